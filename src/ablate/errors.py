"""Errors that end a command with one message and no traceback (torch-free, so parse time stays fast)."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager


class ConfigError(ValueError):
    """A config problem, with the key that causes it named in the message."""


class DataUnavailable(RuntimeError):
    """The data is not where the config says and cannot be fetched; the message says what to do."""


@contextmanager
def one_message(task: str = "") -> Iterator[None]:
    """End a command that fails with one line saying what failed: a config or data problem with its message
    alone (exit status 2, no traceback); anything else after its traceback, which the job's log keeps (exit
    status 1). `task` names what failed, e.g. "study_summary of results/studies/dropout/runs.csv"."""
    try:
        yield
    except (ConfigError, DataUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as error:
        traceback.print_exc()
        print(f"error: {task + ' failed: ' if task else ''}{type(error).__name__}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
