"""Batches from a split held on the training device: an epoch draws a permutation from a seeded generator,
and batches are cut from chunks that are gathered, cropped, flipped and normalised with a handful of tensor
operations: no per-sample Python in the training loop."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ablate.data.datasets import Split


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Per-sample random crop (zero padding `pad`, as torchvision's RandomCrop) and horizontal flip."""
    count, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (2, count), generator=generator).to(device)
    flips = (torch.rand(count, generator=generator) < 0.5).to(device)
    rows = offsets[0, :, None] + torch.arange(height, device=device)
    cols = offsets[1, :, None] + torch.arange(width, device=device)
    # a flipped sample reads its columns right to left
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    return padded[
        torch.arange(count, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


class Normalizer:
    """uint8 images -> float (x/255 - mean)/std, in the memory format the model wants."""

    def __init__(self, mean, std, device: torch.device | str, channels_last: bool = False) -> None:
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -mean_t / std_t
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(memory_format=self.memory_format).float()
        return torch.addcmul(self.shift, x, self.scale)


def train_batches(
    split: Split,
    batch_size: int,
    generator: torch.Generator,
    normalize: Normalizer,
    augment: bool,
    chunk_samples: int = 8192,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled (and augmented) batches; the last batch may be smaller, as a DataLoader's.

    Batches are cut from chunks of several thousand samples that are prepared in one go, which keeps
    the per-step cost of tiny batches (the original's batch size 4) down to a slice.
    """
    order = torch.randperm(len(split), generator=generator).to(split.labels.device)
    per_chunk = max(1, chunk_samples // batch_size) * batch_size
    for start in range(0, len(split), per_chunk):
        index = order[start : start + per_chunk]
        images = split.images[index]
        if augment:
            images = random_crop_flip(images, generator)
        images, labels = normalize(images), split.labels[index]
        for offset in range(0, len(index), batch_size):
            yield images[offset : offset + batch_size], labels[offset : offset + batch_size]


def eval_batches(split: Split, batch_size: int, normalize: Normalizer) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(split), batch_size):
        yield normalize(split.images[start : start + batch_size]), split.labels[start : start + batch_size]
