"""One run: train a model on a resolved config, checkpoint every epoch, write the run directory.

What a finished run directory holds: config.json, history.csv, steps.csv, model.pt, metrics.json
(written last; ablate.training.outputs), and the weights after each of its members' epochs (weights/). Its
checkpoint.pt (atomic, every epoch) lets a killed job resume and end with the same numbers as an uninterrupted
run, and stays once the run finished, as the final state a longer config grows it from (ablate.trajectory);
progress.json beside it says how far the run got (ablate.training.checkpoint). The epochs: ablate.training.loop.

Before it trains, a run checks that what it will write fits on its disk (ablate.training.space); while it
trains, it can write TensorBoard event files (ablate.training.board). CUDA running out of memory ends the run
with OutOfMemory, which says where; the job decides what follows (ablate.training.job).

Every log line starts with the run's name: the workflow shows train jobs' lines side by side.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ablate import rundir, trajectory
from ablate.data import batches, datasets
from ablate.execution.memory import train_memory_mb
from ablate.training import components, outputs, probes, space
from ablate.training.board import Board
from ablate.training.checkpoint import Checkpoint, Progress
from ablate.training.device import apply_precision, pick_device, precision_policy
from ablate.training.loop import Data, EpochLoop
from ablate.training.models import build_model


@dataclass
class Runtime:
    """How and where a run executes; none of it is part of the run's identity."""

    device: str = "auto"
    threads: int | None = None
    compile: bool = False
    eval_batch_size: int = 1000
    data_root: str = "resources/data"
    # the data job's decoded arrays of the run's dataset (results/data/<dataset>); none: decode from data_root
    decoded_data: str | None = None
    gpu_slot: str | None = (
        None  # "GPU g, k of K slots" where the run holds slots of a GPU pool (ablate.execution.claims)
    )
    tensorboard: tuple[str, ...] = ()  # the run's event directories (ablate.training.board); empty: none
    oom_retries: list[dict] = field(default_factory=list)  # the job's earlier attempts that ran out of memory


class OutOfMemory(RuntimeError):
    """CUDA ran out of memory at `epoch`, `step` of the run (epoch 0: while its data and model were put on the
    GPU); `peak_mb`: the most memory torch had allocated by then (CUDA only)."""

    def __init__(self, epoch: int, step: int, peak_mb: float | None) -> None:
        self.epoch, self.step, self.peak_mb = epoch, step, peak_mb
        self.where = f"at epoch {epoch}, step {step}" if epoch else "while loading its data and model"
        super().__init__(f"CUDA out of memory {self.where}")


def initial_model(config: Mapping, num_classes: int) -> torch.nn.Module:
    """The run's model at step 0, on the CPU: the global RNG seeded with the run's seed, then the model built and
    initialised, the trainer's first random draws. A run's initial weights are thus its config's: analyses
    rebuild them from it (ablate.analysis.run_surface) instead of the run saving them."""
    torch.manual_seed(config["seed"])
    return build_model(
        config["model"],
        config["activation"],
        config["dropout"],
        num_classes=num_classes,
        width=config["width"],
        init=config["init"],
    )


class Trainer:
    """The run `config` assembled on its device: data, model, optimizer, scheduler, loss, probes, precision;
    `run()` trains (or resumes) it epoch by epoch into `run_dir`."""

    def __init__(
        self,
        config: Mapping,
        run_dir: str | Path,
        runtime: Runtime,
        log: Callable[[str], None],
        weights_at: Collection[int] = (),
    ) -> None:
        run_dir = Path(run_dir)
        self.config, self.run_dir, self.runtime = config, run_dir, runtime
        self.weights_at = frozenset(weights_at)  # epochs after which its members read its weights
        self.log = lambda line: log(f"{run_dir.name} {line}")
        if runtime.threads:
            torch.set_num_threads(runtime.threads)
        self.device = pick_device(runtime.device)
        self.precision = precision_policy(config["precision"], self.device)
        apply_precision(self.precision)
        # channels_last: measured 1.2-1.4x faster on CUDA and on x86 CPUs (oneDNN); not on MPS
        self.channels_last = self.device.type in ("cuda", "cpu")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        # the order of what follows is the order of the runs' random draws: keep it
        self.dataset = datasets.load_dataset(
            config["dataset"], runtime.data_root, download=False, device=self.device, decoded=runtime.decoded_data
        )
        self.model = initial_model(config, len(self.dataset.classes)).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward = torch.compile(self.model) if runtime.compile else self.model
        self.optimizer = components.optimizer(self.model.parameters(), config["optimizer"])
        self.scheduler = components.scheduler(self.optimizer, config["scheduler"], config["epochs"])
        self.loss_fn = components.loss_function(config["loss"])
        self.generator = torch.Generator().manual_seed(config["seed"])
        normalize, steps = config["normalize"], space.steps_of(config, len(self.dataset.train))
        self.normalize = batches.Normalizer(normalize["mean"], normalize["std"], self.device, self.channels_last)
        self.probes = probes.ProbeRecorder(self.model, self.optimizer, config, steps)
        data = Data(
            self.dataset,
            config["batch_size"],
            config["augment"],
            self.generator,
            self.normalize,
            eval_batch_size=runtime.eval_batch_size,
        )
        self.loop = EpochLoop(
            self.model, self.optimizer, self.loss_fn, data, self.precision, self.probes, self.device, self.forward
        )
        self.checkpoint = Checkpoint(
            run_dir, config, self.model, self.optimizer, self.scheduler, self.generator, self.probes, self.device
        )
        self.history: list[dict] = []
        self.wall_seconds = 0.0
        self.board: Board | None = None
        self.peak: dict[str, int] = {}  # bytes by file at the run's peak (check_space)

    def save_checkpoint(self) -> None:
        size = self.peak.get(rundir.CHECKPOINT, 0) // 2  # one of the two the peak counts
        progress = Progress(self.history, self.loop.step, self.wall_seconds)
        what = f"the checkpoint after epoch {len(self.history)}"
        space.checked_save(self.run_dir, size, what, lambda: self.checkpoint.save(progress))

    def resume(self) -> None:
        """Continue from the run directory's checkpoint, where there is one of this run (a damaged one is set
        aside): a killed job's last epoch, or a finished run's final state (it grows). A run that diverged kept
        the state before its diverging epoch, which diverges again."""
        final = trajectory.final_state(self.run_dir)
        progress = self.checkpoint.resume(self.log)
        if progress is None:
            return
        self.history, self.loop.step, self.wall_seconds = progress
        done, epochs = len(self.history), self.config["epochs"]
        if done > epochs:  # trained further before (its members asked for more then): it keeps those epochs
            self.config = self.checkpoint.config = trajectory.at_length(self.config, done)
        if done >= epochs:
            self.log(f"nothing to train: {self.checkpoint.path} is after epoch {done}")
        elif final is not None:
            self.log(f"grows: continuing at epoch {done + 1} of {epochs} from its final state after epoch {done}")
        else:
            path = self.checkpoint.path
            self.log(f"resumed from {path} after epoch {done}: continuing at epoch {done + 1} of {epochs}")
        self.save_weights(done)  # a member that asks for the epoch it stopped at

    def run(self) -> dict:
        """Train the epochs the run still lacks, checkpointing after each; then write the outputs."""
        self.resume()
        epochs = self.config["epochs"]
        if len(self.history) < epochs:
            self.check_space()
            self.log(
                f"{epochs - len(self.history)} of {epochs} epochs to train on {self.device} "
                f"({self.precision.label}): {len(self.dataset.train):,} images per epoch, "
                f"batch {self.config['batch_size']}"
            )
        if self.runtime.tensorboard:
            first = self.loop.step + 1 if self.loop.step else 0
            self.board = Board(self.runtime.tensorboard, first, self.run_dir.name, self.config)
        epoch = len(self.history) + 1
        try:
            for epoch in range(len(self.history) + 1, epochs + 1):
                if not self.train_epoch(epoch):
                    break
            return self.finish()
        except torch.OutOfMemoryError as error:
            raise OutOfMemory(epoch, self.loop.step, self.peak_gpu_memory_mb()) from error
        finally:
            if self.board is not None:
                self.board.close()

    def train_epoch(self, epoch: int) -> bool:
        """Train and test epoch `epoch`, log it and checkpoint; False where the run diverged (then it stops)."""
        epochs = self.config["epochs"]
        started = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this epoch trains at, before the scheduler steps
        train_loss, train_acc, images_per_second = self.loop.train_epoch(epoch)
        if self.loop.diverged_step is not None:
            self.log(
                f"epoch {epoch}/{epochs} diverged: loss not finite at step {self.loop.diverged_step}; "
                "stopping (recorded as a result)"
            )
            return False
        test = self.loop.evaluate()
        if not math.isfinite(test[0]):
            self.loop.diverged_step = self.loop.step
            self.log(f"epoch {epoch}/{epochs} diverged: test loss not finite after step {self.loop.step}")
            return False
        self.scheduler.step(test[0])
        seconds = time.perf_counter() - started
        self.wall_seconds += seconds
        row = outputs.history_row(epoch, (train_loss, train_acc), test, lr, seconds, images_per_second)
        self.history.append(row)
        eta = (epochs - epoch) * self.wall_seconds / len(self.history)
        self.log(outputs.epoch_line(row, epochs, eta))
        if self.board is not None:
            self.board.write(self.probes.rows, row, self.loop.step)
        self.save_checkpoint()
        self.save_weights(epoch)
        return True

    def weights_path(self, epoch: int) -> Path:
        return self.run_dir / trajectory.WEIGHTS.format(epochs=epoch)

    def save_weights(self, epoch: int) -> None:
        """The weights after `epoch`, where a member of the run ends there (and they are not saved yet)."""
        if epoch in self.weights_at and epoch == len(self.history) and not self.weights_path(epoch).exists():
            outputs.save_weights(self.model, self.weights_path(epoch))

    def check_space(self) -> None:
        """Stop before training where what the run will write does not fit on its disk (ablate.training.space)."""
        steps = space.steps_of(self.config, len(self.dataset.train))
        epochs, done = self.config["epochs"], len(self.history)
        # the member weights still to save, and model.pt where no member ends with the run (else it links those)
        weights = sum(done < e <= epochs for e in self.weights_at) + (epochs not in self.weights_at)
        self.peak = space.estimate(self.config, self.model, steps, len(self.runtime.tensorboard), weights)
        space.check_space(self.run_dir, self.peak)

    def metrics(self) -> dict:
        return outputs.metrics(
            self.run_dir,
            self.history,
            self.model,
            self.loop.diverged_step,
            self.wall_seconds,
            device=self.device,
            precision=self.precision,
            channels_last=self.channels_last,
            compiled=self.runtime.compile,
            gpu_slot=self.runtime.gpu_slot,
            oom_retries=self.runtime.oom_retries,
            gpu_memory_estimate_mb=self.gpu_memory_estimate_mb(),
            peak_gpu_memory_mb=self.peak_gpu_memory_mb(),
        )

    def peak_gpu_memory_mb(self) -> float | None:
        """The most memory torch allocated on the GPU in this process so far (CUDA only)."""
        return round(torch.cuda.max_memory_allocated() / 2**20, 1) if self.device.type == "cuda" else None

    def gpu_memory_estimate_mb(self) -> int | None:
        """The estimate the GPU slots were sized by (ablate.execution.memory), for runs on a GPU or a GPU pool."""
        if self.device.type != "cuda" and self.runtime.gpu_slot is None:
            return None
        return train_memory_mb(self.config, self.runtime.eval_batch_size)

    def finish(self) -> dict:
        """Write config.json, history.csv, steps.csv, density.csv, model.pt and metrics.json (last), then mark the
        checkpoint as the run's final state; returns the metrics."""
        metrics = self.metrics()
        if self.board is not None:  # the steps of a diverged epoch, which wrote no epoch row
            self.board.write(self.probes.rows, None, self.loop.step)
        steps = (probes.columns(self.config["probes"]), self.probes.rows)
        density = (probes.DENSITY_COLUMNS, self.probes.density_rows)
        diverged = self.loop.diverged_step is not None
        saved = None if diverged else self.weights_path(len(self.history))
        outputs.write_outputs(self.run_dir, self.config, self.history, steps, density, self.model, metrics, saved)
        progress = Progress(self.history, self.loop.step, self.wall_seconds)
        self.checkpoint.write_progress(progress, finished=True, diverged=diverged)
        return metrics


def train_run(
    config: Mapping,
    run_dir: str | Path,
    runtime: Runtime | None = None,
    log: Callable[[str], None] = print,
    weights_at: Collection[int] = (),
) -> dict:
    """Train (resume, or grow) the run `config` into `run_dir` to its `epochs`, keeping the weights after each epoch
    of `weights_at`; returns its metrics."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        trainer = Trainer(config, run_dir, runtime or Runtime(), log, weights_at)
    except torch.OutOfMemoryError as error:
        peak = round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None
        raise OutOfMemory(0, 0, peak) from error
    return trainer.run()
