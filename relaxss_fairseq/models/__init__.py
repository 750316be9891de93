from . import lstm_relaxed, transformer_relaxed  # noqa: F401
