"""TensorBoard event files of a run, written while it trains (execution.tensorboard; the `tensorboard` extra).

Where: results/tensorboard/<study>/<variant>/seed<k> (ablate.rundir.TENSORBOARD_DIR), one directory per study
membership of the run, so that TensorBoard's run list reads as the studies do and `--logdir
results/tensorboard/<study>` shows one study. A run shared by studies is written under each (in the full
study 3 runs: the ResNet-18 trajectory of each seed of `loss` and `activation`, seed 0's also `residual`'s:
docs/config.md, "Runs that grow"). The train job knows only its run: the workflow passes each run's directories through
results/runtime.json, never through the run's config, so the switch changes no run's identity. Each directory's
first event is a text naming the run and its resolved config.

What: per epoch, the history.csv columns `epoch/<column>` (losses, accuracies, lr, images/s); per step, the
probe columns of steps.csv `step/<column>`. Both are plotted over the optimizer step (an epoch's values at its
last step), so that one purge_step covers them: a writer opened at step s hides every event from step s on
that an earlier attempt wrote (a killed job that wrote past its checkpoint, a run restarted from scratch).
A resumed run continues its curves and never shows a step twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ablate import rundir
from ablate.execution.machine import require_tensorboard

EPOCH_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "images_per_second")
NOT_PLOTTED = ("epoch", "step")  # the steps.csv columns that say where a row is


class Board:
    """The event files of one run under `dirs`, written from optimizer step `first_step` on (0: from scratch)."""

    def __init__(self, dirs: Sequence[str | Path], first_step: int, run: str, config: Mapping) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter  # the extra: only where it is switched on

        self.writers = [SummaryWriter(str(d), purge_step=first_step) for d in dirs]
        self.written = first_step - 1  # the last step whose values are written
        if first_step == 0:
            resolved = json.dumps(config, sort_keys=True, indent=2).replace("\n", "\n    ")  # markdown: code
            for writer in self.writers:
                writer.add_text("run", f"run `{run}` ({rundir.run_dir(run)})\n\n    {resolved}", 0)

    def write(self, step_rows: Sequence[Mapping], epoch_row: Mapping | None, step: int) -> None:
        """The probe rows (steps.csv's) after the last written step and, with `epoch_row` (history.csv's), that
        epoch's values at `step`; flushed, so that TensorBoard shows them while the run trains."""
        for writer in self.writers:
            for row in step_rows:
                if row["step"] > self.written:
                    for column, value in row.items():
                        if column not in NOT_PLOTTED and not math.isnan(value):  # NaN: undefined (step 1's beta)
                            writer.add_scalar(f"step/{column}", value, row["step"])
            if epoch_row is not None:
                for column in EPOCH_COLUMNS:
                    writer.add_scalar(f"epoch/{column}", epoch_row[column], step)
            writer.flush()
        self.written = step

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
