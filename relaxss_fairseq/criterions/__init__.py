from . import relaxed_scheduled_sampling  # noqa: F401
