"""Errors that end a command with one message and no traceback (torch-free, so parse time stays fast)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class ConfigError(ValueError):
    """A config problem, with the key that causes it named in the message."""


class DataUnavailable(RuntimeError):
    """The data is not where the config says and cannot be fetched; the message says what to do."""


@contextmanager
def one_message() -> Iterator[None]:
    """End a command on a config or data problem with its message alone (exit status 2), no traceback."""
    try:
        yield
    except (ConfigError, DataUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
