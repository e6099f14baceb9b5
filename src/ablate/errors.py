"""Errors that end a command with one message and no traceback (torch-free, so parse time stays fast)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager


class ConfigError(ValueError):
    """A config problem, with the key that causes it named in the message, and in `key` (its parts) where the
    message is about one key: ablate.plan.config.validated adds the config file that sets it."""

    def __init__(self, message: str, key: tuple = ()) -> None:
        super().__init__(message)
        self.key = key


class DataUnavailable(RuntimeError):
    """The data is not where the config says and cannot be fetched; the message says what to do."""


class DamagedRun(RuntimeError):
    """A finished run's files disagree with each other; the message names them and the command that retrains it."""


class NotEnoughSpace(OSError):
    """What a job will write does not fit on its disk; the message names the numbers and the path."""


WORK_LINE = "work:"  # how a job's log says how long its own computation took (one_message)

# what ends a command with its message alone: the message says what to do, a traceback would add nothing
ONE_MESSAGE = (ConfigError, DataUnavailable, DamagedRun, NotEnoughSpace)


@contextmanager
def one_message(task: str = "") -> Iterator[None]:
    """End a command that fails with one line saying what failed: a config, data or disk-space problem with its
    message alone (exit status 2, no traceback); anything else after its traceback, which the job's log keeps (exit
    status 1). `task` names what failed, e.g. "study_summary of results/studies/dropout/runs.csv".

    A job's entry script that succeeds ends its log with `work: <seconds> s (<task>)`, the time of its own
    computation: bench/overhead.py sets it against the job's wall time (its benchmark file)."""
    started = time.perf_counter()
    try:
        yield
    except ONE_MESSAGE as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as error:
        traceback.print_exc()
        print(f"error: {task + ' failed: ' if task else ''}{type(error).__name__}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    if task:
        print(f"{WORK_LINE} {time.perf_counter() - started:.3f} s ({task})", file=sys.stderr)
