"""Datasets as whole uint8 tensors: CIFAR-10 (torchvision's archive), a folder of images per class, or
generated images; seeded class-stratified subsets; the data check before any train job (`prepare`).

Each split is decoded once into an N x 3 x 32 x 32 uint8 tensor, which ablate.data.batches cuts into
augmented, normalised batches on the training device.
"""

from __future__ import annotations

import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ablate import registry
from ablate.errors import DataUnavailable

CIFAR10_ARCHIVE = registry.DATASETS["cifar10"].source.archive  # cifar-10-python.tar.gz
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SIZE = 32


@dataclass
class Split:
    images: torch.Tensor  # uint8, N x 3 x 32 x 32
    labels: torch.Tensor  # int64, N

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, count: int | None, generator: torch.Generator) -> Split:
        """A class-stratified random sample of `count` items (all of them when None or too many).

        Each class gets its share of `count` in proportion to its size (largest remainders round up), drawn
        at random within the class; the sample keeps the split's order. A folder sorted by class thus gives
        every class, not the first one or two.
        """
        if count is None or count >= len(self):
            return self
        sizes = torch.bincount(self.labels)
        exact = sizes.double() * count / len(self)
        quota = exact.floor().long()
        short = count - int(quota.sum())
        quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
        chosen = []
        for cls in range(len(sizes)):
            members = (self.labels == cls).nonzero().flatten()
            chosen.append(members[torch.randperm(len(members), generator=generator)[: int(quota[cls])]])
        index = torch.cat(chosen).sort().values
        return Split(self.images[index], self.labels[index])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass
class Dataset:
    train: Split
    test: Split
    classes: tuple[str, ...]


def load_dataset(
    identity: Mapping, root: str | Path, download: bool = False, device: torch.device | str = "cpu"
) -> Dataset:
    """The dataset a run's config names (config["dataset"] of a resolved run), on `device`."""
    data = registry.DATASETS[identity["name"]].source.load(identity, root, download)
    # one draw per config (subset_seed), the same for every run of it; synthetic data is generated at size
    generator = torch.Generator().manual_seed(identity.get("subset_seed", 0))
    return Dataset(
        data.train.sample(identity["train_samples"], generator).to(device),
        data.test.sample(identity["test_samples"], generator).to(device),
        data.classes,
    )


def cifar10(root: str | Path, download: bool = False) -> Dataset:
    from torchvision.datasets import CIFAR10

    root = Path(root)
    try:
        splits = [CIFAR10(str(root), train=train, download=download) for train in (True, False)]
    except (OSError, RuntimeError, tarfile.TarError) as error:
        raise DataUnavailable(
            f"CIFAR-10 is not usable under {root} ({type(error).__name__}: {error}). Without network access, "
            f"put {CIFAR10_ARCHIVE} (from https://www.cs.toronto.edu/~kriz/{CIFAR10_ARCHIVE}) into {root}/ "
            "and rerun: it is checked against its MD5 sum and extracted there."
        ) from error
    train, test = (
        Split(torch.from_numpy(s.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(s.targets, dtype=torch.int64))
        for s in splits
    )
    return Dataset(train, test, tuple(splits[0].classes))


# the sources' loaders (ablate.datasources): every image of both splits
def image_folder(root: str | Path) -> Dataset:
    """root/train/<class>/* and root/test/<class>/*, decoded once, converted to RGB 32x32."""
    from PIL import Image
    from torchvision.datasets import ImageFolder

    folders = image_folders(root)

    def decode(folder: ImageFolder) -> Split:
        images = torch.empty(len(folder.samples), 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
        for index, (path, _) in enumerate(folder.samples):
            with Image.open(path) as image:
                rgb = image.convert("RGB")
                if rgb.size != (IMAGE_SIZE, IMAGE_SIZE):
                    rgb = rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
                images[index] = (
                    torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
                    .view(IMAGE_SIZE, IMAGE_SIZE, 3)
                    .permute(2, 0, 1)
                )
        return Split(images, torch.tensor(folder.targets, dtype=torch.int64))

    return Dataset(decode(folders["train"]), decode(folders["test"]), tuple(folders["train"].classes))


def image_folders(root: str | Path) -> dict:
    """split -> torchvision's ImageFolder of root/<split> (files listed, not decoded)."""
    from torchvision.datasets import ImageFolder

    folders = {split: ImageFolder(str(Path(root) / split)) for split in ("train", "test")}
    if folders["train"].classes != folders["test"].classes:
        raise DataUnavailable(f"{root}/train and {root}/test hold different class folders")
    return folders


def image_folder_sizes(root: str | Path) -> tuple[dict[str, int], tuple[str, ...]]:
    """The images of each split and the class names of an image folder, from its file listing (no decoding)."""
    folders = image_folders(root)
    return {split: len(folder.samples) for split, folder in folders.items()}, tuple(folders["train"].classes)


def synthetic(train_samples: int, test_samples: int, seed: int, classes: int = 10) -> Dataset:
    """CIFAR-shaped images whose class shows in a smooth colour pattern, under brightness, colour and noise.

    Learnable by every model here within a few epochs, yet not at once, so curves have a shape.
    """
    gen = torch.Generator().manual_seed(seed)
    # one low-frequency template per class: random 4x4 colour fields, upsampled to 32x32
    coarse = torch.rand(classes, 3, 4, 4, generator=gen)
    templates = F.interpolate(coarse, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bicubic", align_corners=False)

    def sample(count: int) -> Split:
        # every class equally often (to one image), in random order
        labels = torch.randperm(count, generator=gen) % classes
        images = torch.empty(count, 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
        for start in range(0, count, 4096):
            y = labels[start : start + 4096]
            n = len(y)
            x = templates[y] * (0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=gen))
            x = x + 0.25 * (torch.rand(n, 3, 1, 1, generator=gen) - 0.5)  # colour cast
            x = x + 0.35 * torch.randn(n, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen)
            images[start : start + n] = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        return Split(images, labels)

    train = sample(train_samples)
    test = sample(test_samples)
    return Dataset(train, test, tuple(f"class{c}" for c in range(classes)))


def prepare(identity: Mapping, root: str | Path, download: bool, manifest: Path) -> dict:
    """Fetch (a download source, with download) or check the data once, before any train job, and describe it
    (its source's describe: generated data is not made here, a folder's files are counted, not decoded).

    Train jobs never download: on a cluster they may run where there is no network.
    """
    import json

    sizes, classes = registry.DATASETS[identity["name"]].source.describe(identity, root, download)
    used = {split: min(sizes[split], identity[f"{split}_samples"] or sizes[split]) for split in sizes}
    description = {"identity": dict(identity), "classes": list(classes), "available": sizes, "used": used}
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    return description
