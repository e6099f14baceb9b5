"""What the curvature probe and the surface cost, measured on this machine's CPU, as ratios to a training step.

    python bench/probe_cost.py                      # vgg_a and vgg_a_bn at full width, batch 128, one thread
    python bench/probe_cost.py --models vgg_a_bn --threads 2

Per model, in true fp32 on random 32x32 images: the seconds of one training step (forward, backward, SGD step;
the mean of `--steps` after one warm-up step), of the probe's set-up (one forward and the gradient with
create_graph) and of one Hessian-vector product (the mean of `--hvps`), and of one forward pass over 1,000
images in eval mode (what a surface point costs). A curvature call with k products costs set-up + k·HVP; at most
k = max_iter + samples. bench/projected_cost.py applies these ratios to GPU seconds per epoch: the result is a
projection, not a GPU measurement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ablate.training.curvature import hvp_operator, rademacher
from ablate.training.models import build_model


def measure(name: str, batch: int, steps: int, hvps: int) -> dict[str, float]:
    model = build_model(name, init="glorot").to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images = torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()

    step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    step_s = (time.perf_counter() - started) / steps
    params = [p for p in model.parameters() if p.requires_grad]
    started = time.perf_counter()
    matvec = hvp_operator(params, lambda: loss_fn(model(images), labels))
    setup_s = time.perf_counter() - started
    size, generator = sum(p.numel() for p in params), torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _ in range(hvps):
        matvec(rademacher(size, generator, torch.float32, torch.device("cpu")))
    hvp_s = (time.perf_counter() - started) / hvps
    model.eval()
    with torch.no_grad():
        started = time.perf_counter()
        for _ in range(1000 // batch + 1):
            model(images)
        forward_1000_s = (time.perf_counter() - started) * 1000 / ((1000 // batch + 1) * batch)
    return {"step_s": step_s, "setup_s": setup_s, "hvp_s": hvp_s, "forward_1000_s": forward_1000_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["vgg_a", "vgg_a_bn"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--hvps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'model':<10}{'step s':>9}{'set-up s':>10}{'HVP s':>8}{'HVP/step':>10}{'fwd 1000 s':>12}")
    for name in args.models:
        m = measure(name, args.batch, args.steps, args.hvps)
        print(
            f"{name:<10}{m['step_s']:>9.2f}{m['setup_s']:>10.2f}{m['hvp_s']:>8.2f}"
            f"{m['hvp_s'] / m['step_s']:>10.2f}{m['forward_1000_s']:>12.2f}"
        )


if __name__ == "__main__":
    main()
