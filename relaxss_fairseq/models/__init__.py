from . import lstm_relaxed  # noqa: F401
