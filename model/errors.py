"""Errors with messages meant for users (kept free of heavy imports so the CLI starts fast)."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded or does not match what it claims to be; the message says why."""
