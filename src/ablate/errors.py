"""Errors that end a command with one message and no traceback (torch-free, so parse time stays fast)."""


class ConfigError(ValueError):
    """A config problem, with the key that causes it named in the message."""


class DataUnavailable(RuntimeError):
    """The data is not where the config says and cannot be fetched; the message says what to do."""
