"""One run: train a model on a resolved config, checkpoint every epoch, write the run directory.

What a finished run directory holds: config.json, history.csv, steps.csv, model.pt, metrics.json
(written last). While the run trains, checkpoint.pt (atomic, every epoch) lets a killed job resume
and end with the same numbers as an uninterrupted run; progress.json beside it says how far the run got
(read by `python -m ablate status`, which then needs neither torch nor the checkpoint).

Every log line starts with the run's name: the workflow shows train jobs' lines side by side.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from ablate import components, data, probes
from ablate.execution import cpu_name
from ablate.models import build_model, parameter_count
from ablate.status import CHECKPOINT, PROGRESS, format_duration

HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "epoch_seconds",
    "images_per_second",
)


@dataclass
class Runtime:
    """How and where a run executes; none of it is part of the run's identity."""

    device: str = "auto"
    threads: int | None = None
    compile: bool = False
    eval_batch_size: int = 1000
    data_root: str = "resources/data"
    gpu_slot: str | None = None  # "GPU g, k of K slots" where the run holds slots of a GPU pool (ablate.gpus)


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class Precision:
    """How a run's arithmetic is done on its device (the run's `precision`, resolved by ablate.plan)."""

    autocast: torch.dtype | None  # autocast to this dtype, or none
    tf32: bool  # TF32 tensor cores for fp32 matmuls and convolutions (CUDA only)

    @property
    def label(self) -> str:
        return "bf16-autocast" if self.autocast is not None else ("tf32" if self.tf32 else "fp32")


def precision_policy(policy: str, device: torch.device) -> Precision:
    """fp32: true fp32 everywhere (probe runs are always fp32); tf32: fp32 with TF32 tensor cores on CUDA;
    bf16: bf16 autocast wherever it runs; auto: tf32 on CUDA, fp32 elsewhere. Not bf16 for auto: on an H200
    ResNet-18 at batch 128 trained 10,300 images/s with bf16 autocast and 15,000 with TF32 (32x32 images
    and batches of at most 256 are bound by kernel launches, and autocast adds cast kernels)."""
    cuda = device.type == "cuda"
    if policy == "bf16":
        return Precision(torch.bfloat16, tf32=cuda)
    return Precision(None, tf32=cuda and policy in ("tf32", "auto"))


def apply_precision(precision: Precision) -> None:
    """Set the process-wide matmul/convolution precision: one run per process, so nothing leaks."""
    torch.backends.cuda.matmul.allow_tf32 = precision.tf32
    torch.backends.cudnn.allow_tf32 = precision.tf32
    torch.set_float32_matmul_precision("high" if precision.tf32 else "highest")


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_csv(path: Path, columns, rows) -> None:
    def dump(tmp: Path) -> None:
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns), restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(path, dump)


def write_json(path: Path, payload: Mapping) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n"))


class Trainer:
    def __init__(self, config: Mapping, run_dir: Path, runtime: Runtime, log: Callable[[str], None]) -> None:
        self.config, self.run_dir, self.runtime = config, run_dir, runtime
        self.log = lambda line: log(f"{run_dir.name} {line}")
        if runtime.threads:
            torch.set_num_threads(runtime.threads)
        self.device = pick_device(runtime.device)
        self.precision = precision_policy(config["precision"], self.device)
        apply_precision(self.precision)
        self.dtype = self.precision.autocast
        # channels_last: measured 1.2-1.4x faster on CUDA and on x86 CPUs (oneDNN); not on MPS
        self.channels_last = self.device.type in ("cuda", "cpu")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.dataset = data.load_dataset(config["dataset"], runtime.data_root, download=False, device=self.device)
        torch.manual_seed(config["seed"])
        self.model = build_model(
            config["model"],
            config["activation"],
            config["dropout"],
            num_classes=len(self.dataset.classes),
            width=config["width"],
            init=config["init"],
        ).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward = torch.compile(self.model) if runtime.compile else self.model
        self.optimizer = components.optimizer(self.model.parameters(), config["optimizer"])
        self.scheduler = components.scheduler(self.optimizer, config["scheduler"], config["epochs"])
        self.loss_fn = components.loss_function(config["loss"])
        self.generator = torch.Generator().manual_seed(config["seed"])
        self.normalize = data.Normalizer(
            config["normalize"]["mean"], config["normalize"]["std"], self.device, self.channels_last
        )
        self.probes = probes.ProbeRecorder(
            self.model, self.optimizer, config["probes"], config.get("probe_every", 10), config.get("line_search")
        )
        self.history: list[dict] = []
        self.step = 0
        self.diverged_step: int | None = None
        self.wall_seconds = 0.0
        # on the CPU a sync costs nothing, so divergence is caught at its step; on accelerators every 50
        self.check_every = 1 if self.device.type == "cpu" else 50

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    # -- checkpoints -------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "config": dict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "history": self.history,
            "step": self.step,
            "probes": self.probes.state_dict(),
            "wall_seconds": self.wall_seconds,
        }

    def save_checkpoint(self) -> None:
        write_atomic(self.run_dir / CHECKPOINT, lambda tmp: torch.save(self.state(), tmp))
        progress = {
            "epochs_completed": len(self.history),
            "epochs": self.config["epochs"],
            "wall_seconds": self.wall_seconds,
        }
        write_json(self.run_dir / PROGRESS, progress)

    def resume(self) -> bool:
        path = self.run_dir / CHECKPOINT
        if not path.exists():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state["config"] != dict(self.config):
            self.log(f"ignoring {path}: it belongs to another config")
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        self.history, self.step = state["history"], state["step"]
        self.probes.load_state_dict(state["probes"])
        self.wall_seconds = state["wall_seconds"]
        self.log(f"resumed from {path} after epoch {len(self.history)}")
        return True

    # -- one epoch ---------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> tuple[float, float, float]:
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        window: list[torch.Tensor] = []
        started = time.perf_counter()
        for images, labels in data.train_batches(
            self.dataset.train, self.config["batch_size"], self.generator, self.normalize, self.config["augment"]
        ):
            self.step += 1
            with self.autocast():
                logits = self.forward(images)
                loss = self.loss_fn(logits.float(), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.probes.active:

                def loss_at(images=images, labels=labels):
                    with self.autocast():
                        return self.loss_fn(self.forward(images).float(), labels)

                self.probes.after_backward(epoch, self.step, loss, loss_at)
            self.optimizer.step()
            loss_sum += loss.detach() * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            window.append(loss.detach())
            if len(window) >= self.check_every and self._diverged_in(window):
                break
        if window and self.diverged_step is None:
            self._diverged_in(window)
        self.probes.flush()
        seen = len(self.dataset.train)
        train_loss, train_acc = loss_sum.item() / seen, 100.0 * correct.item() / seen  # waits for the device
        return train_loss, train_acc, seen / (time.perf_counter() - started)

    def _diverged_in(self, window: list[torch.Tensor]) -> bool:
        finite = torch.isfinite(torch.stack(window))
        first_bad = self.step - len(window) + 1
        window.clear()
        if bool(finite.all()):
            return False
        self.diverged_step = first_bad + int((~finite).nonzero()[0])
        return True

    @torch.inference_mode()
    def evaluate(self) -> tuple[float, float]:
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for images, labels in data.eval_batches(self.dataset.test, self.runtime.eval_batch_size, self.normalize):
            with self.autocast():
                logits = self.forward(images).float()
            loss_sum += self.loss_fn(logits, labels) * len(labels)
            correct += (logits.argmax(1) == labels).sum()
        seen = len(self.dataset.test)
        return loss_sum.item() / seen, 100.0 * correct.item() / seen

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> dict:
        self.resume()
        epochs = self.config["epochs"]
        if len(self.history) < epochs:
            self.log(
                f"{epochs - len(self.history)} of {epochs} epochs to train on {self.device} "
                f"({self.precision.label}): {len(self.dataset.train):,} images per epoch, "
                f"batch {self.config['batch_size']}"
            )
        for epoch in range(len(self.history) + 1, epochs + 1):
            started = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, train_acc, images_per_second = self.train_epoch(epoch)
            if self.diverged_step is not None:
                self.log(
                    f"epoch {epoch}/{epochs} diverged: loss not finite at step {self.diverged_step}; "
                    "stopping (recorded as a result)"
                )
                break
            test_loss, test_acc = self.evaluate()
            if not math.isfinite(test_loss):
                self.diverged_step = self.step
                self.log(f"epoch {epoch}/{epochs} diverged: test loss not finite after step {self.step}")
                break
            self.scheduler.step(test_loss)
            seconds = time.perf_counter() - started
            self.wall_seconds += seconds
            self.history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_acc": train_acc,
                    "test_loss": test_loss,
                    "test_acc": test_acc,
                    "lr": lr,
                    "epoch_seconds": seconds,
                    "images_per_second": images_per_second,
                }
            )
            eta = (epochs - epoch) * self.wall_seconds / len(self.history)
            self.log(
                f"epoch {epoch}/{epochs} train_loss {train_loss:.4f} train_acc {train_acc:.2f} "
                f"test_loss {test_loss:.4f} test_acc {test_acc:.2f} lr {lr:.3g} "
                f"{images_per_second:.0f} img/s {seconds:.1f}s ETA {format_duration(eta)}"
            )
            self.save_checkpoint()
        return self.finish()

    def finish(self) -> dict:
        out = self.run_dir
        write_csv(out / "history.csv", HISTORY_COLUMNS, self.history)
        write_csv(out / "steps.csv", probes.columns(self.config["probes"]), self.probes.rows)
        write_atomic(out / "model.pt", lambda tmp: torch.save(self.model.state_dict(), tmp))
        metrics = self.metrics()
        write_json(out / "metrics.json", metrics)
        (out / CHECKPOINT).unlink(missing_ok=True)
        (out / PROGRESS).unlink(missing_ok=True)
        return metrics

    def metrics(self) -> dict:
        best = max(self.history, key=lambda row: row["test_acc"], default=None)
        last = self.history[-1] if self.history else None
        timed = self.history[1:] or self.history  # the first epoch carries warm-up costs
        return {
            "run": self.run_dir.name,
            "epochs_completed": len(self.history),
            "final_test_acc": last["test_acc"] if last else None,
            "final_test_loss": last["test_loss"] if last else None,
            "final_train_loss": last["train_loss"] if last else None,
            "best_test_acc": best["test_acc"] if best else None,
            "best_epoch": best["epoch"] if best else None,
            "best_test_loss": min((r["test_loss"] for r in self.history), default=None),
            "parameters": parameter_count(self.model),
            "diverged": self.diverged_step is not None,
            "diverged_step": self.diverged_step,
            "seconds_per_epoch": sum(r["epoch_seconds"] for r in timed) / len(timed) if timed else None,
            "images_per_second": sum(r["images_per_second"] for r in timed) / len(timed) if timed else None,
            "wall_seconds": self.wall_seconds,
            "device": str(self.device),
            "gpu_slot": self.runtime.gpu_slot,
            "device_name": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else cpu_name(),
            "precision": self.precision.label,
            "channels_last": self.channels_last,
            "compiled": self.runtime.compile,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,  # the CUDA torch was built with; None on CPU-only builds
            "torchvision": torchvision.__version__,
            "python": sys.version.split()[0],
        }


def train_run(
    config: Mapping, run_dir: str | Path, runtime: Runtime | None = None, log: Callable[[str], None] = print
) -> dict:
    """Train (or resume) the run `config` into `run_dir`; returns its metrics."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config)
    return Trainer(config, run_dir, runtime or Runtime(), log).run()
