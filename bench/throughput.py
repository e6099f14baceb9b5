"""Training throughput: our tensor data pipeline against a seed-style DataLoader loop, alternating.

The seed-style loop is what the original report's code did: torchvision's DataLoader over PIL images,
RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize in worker processes, and
zero_grad / forward / backward / step / loss.item() per batch. Ours is the Trainer's epoch loop
(ablate.training.loop: uint8 tensors on the device, augmentation and normalisation per chunk, channels_last,
the precision policy). Same model, batch size, device, threads and images; the two alternate in one
process and every figure is the median over the repetitions. Prints numbers; asserts nothing.

    python bench/throughput.py                      # the cases docs/performance.md quotes
    python bench/throughput.py --model resnet18 --batch-size 128 --steps 10 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ablate.plan.config import validated
from ablate.plan.runs import make_plan
from ablate.training import components
from ablate.training.models import build_model
from ablate.training.trainer import Runtime, Trainer


class PILImages(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 does per item: HWC uint8 array -> PIL image -> transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.data = images.permute(0, 2, 3, 1).numpy()
        self.targets = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        from PIL import Image  # the seed-style loop's only: bench/gpu.py's workers never load PIL or torchvision

        return self.transform(Image.fromarray(self.data[index])), self.targets[index]


def run_config(model: str, batch_size: int, steps: int, precision: str) -> dict:
    config = validated(
        {
            "dataset": {"name": "synthetic", "train_samples": batch_size * steps, "test_samples": 1},
            "defaults": {"model": model, "batch_size": batch_size, "augment": True, "precision": precision},
            "studies": {"bench": {"variants": {"v": {}}}},
            "report": {"hyperparameters": {"study": "bench", "variant": "v"}},
        },
        check_paths=False,
    )
    return next(iter(make_plan(config).runs.values())).train_config


def ours(trainer: Trainer, epoch: int) -> float:
    """images/s of one training epoch of the Trainer's loop (ablate.training.loop)."""
    return trainer.loop.train_epoch(epoch)[2]


def seed_loop(model, loader: DataLoader, optimizer, loss_fn, count: int) -> float:
    model.train()
    started = time.perf_counter()
    running_loss = 0.0
    for inputs, labels in loader:  # a new iterator per epoch starts the workers, as the original's did
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return count / (time.perf_counter() - started)


def measure(model_name: str, batch_size: int, steps: int, repeats: int, workers: int, threads: int) -> None:
    torch.set_num_threads(threads)
    # the trainers' run directories: kept while they train (train_epoch writes nothing, a run() would)
    with tempfile.TemporaryDirectory() as scratch:
        trainers = {
            precision: Trainer(
                run_config(model_name, batch_size, steps, precision),
                Path(scratch) / precision,
                Runtime(device="cpu", threads=threads),
                log=lambda _: None,
            )
            for precision in ("fp32", "bf16")
        }
        seed, fp32, bf16 = alternate(trainers, model_name, batch_size, steps, repeats, workers)
    print(
        f"{model_name:<10} batch {batch_size:>3}  {steps:>4} steps x {repeats}  "
        f"seed-style {seed:8.1f} img/s | ours fp32 {fp32:8.1f} img/s  ratio {fp32 / seed:4.2f}x | "
        f"ours bf16-autocast {bf16:8.1f} img/s  ratio {bf16 / seed:4.2f}x",
        flush=True,
    )


def alternate(
    trainers: dict[str, Trainer], model_name: str, batch_size: int, steps: int, repeats: int, workers: int
) -> tuple[float, float, float]:
    """Median images/s of the seed-style loop, ours in fp32 and ours with bf16 autocast, timed in turns."""
    from torchvision import transforms  # the seed-style loop's only

    count = batch_size * steps
    dataset = trainers["fp32"].dataset.train
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ]
    )
    loader = DataLoader(
        PILImages(dataset.images, dataset.labels, transform), batch_size=batch_size, shuffle=True, num_workers=workers
    )
    torch.manual_seed(0)
    seed_model = build_model(model_name)
    seed_optimizer = components.optimizer(seed_model.parameters(), {"name": "sgd", "lr": 0.001, "momentum": 0.9})
    loss_fn = torch.nn.CrossEntropyLoss()

    # one untimed pass each: allocator, oneDNN primitive caches, worker start-up paths
    ours(trainers["fp32"], 1)
    ours(trainers["bf16"], 1)
    seed_loop(seed_model, loader, seed_optimizer, loss_fn, count)
    rates: dict[str, list[float]] = {"seed": [], "fp32": [], "bf16": []}
    for _ in range(repeats):
        rates["seed"].append(seed_loop(seed_model, loader, seed_optimizer, loss_fn, count))
        rates["fp32"].append(ours(trainers["fp32"], 2))
        rates["bf16"].append(ours(trainers["bf16"], 2))
    seed, fp32, bf16 = (statistics.median(rates[k]) for k in ("seed", "fp32", "bf16"))
    return seed, fp32, bf16


CASES = [("basic_cnn", 128, 60), ("resnet18", 128, 6), ("basic_cnn", 4, 600)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the seed-style loop")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {args.threads} threads, CPU, DataLoader workers {args.workers}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    cases = [(args.model, args.batch_size, args.steps)] if args.model else CASES
    for model_name, batch_size, steps in cases:
        measure(model_name, batch_size, steps, args.repeats, args.workers, args.threads)


if __name__ == "__main__":
    main()
