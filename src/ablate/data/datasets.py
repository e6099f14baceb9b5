"""Datasets as whole uint8 tensors: CIFAR-10 (torchvision's archive), a folder of images per class, or
generated images; seeded class-stratified subsets; the data job (`prepare`), which decodes them once.

Each split is an N x 3 x 32 x 32 uint8 tensor, which ablate.data.batches cuts into augmented, normalised batches
on the training device. The data job writes a dataset identity's splits (after the subset draw) as .npy arrays
(ablate.data.layout); the workflow's jobs load those (`load_dataset` with `decoded`: ~0.1 s for CIFAR-10,
where decoding its 60,000 JPEGs takes ~15 s), a run started by hand decodes its source.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ablate import registry, rundir
from ablate.data.layout import ARRAY_FILES, array_files, manifest_of
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
    identity: Mapping,
    root: str | Path,
    download: bool = False,
    device: torch.device | str = "cpu",
    decoded: str | Path | None = None,
) -> Dataset:
    """The dataset a run's config names (config["dataset"] of a resolved run), on `device`: with `decoded`, the
    data job's arrays in that folder (results/data/<dataset>, named by the workflow's runtime settings); without,
    decoded from its source under `root` (a run started by hand). Both give the same tensors."""
    data = read_decoded(identity, decoded) if decoded is not None else from_source(identity, root, download)[0]
    return Dataset(data.train.to(device), data.test.to(device), data.classes)


def from_source(identity: Mapping, root: str | Path, download: bool) -> tuple[Dataset, dict[str, int]]:
    """The identity's splits decoded from its source and drawn (its subset), and the images each split held."""
    data = registry.DATASETS[identity["name"]].source.load(identity, root, download)
    # one draw per config (subset_seed), the same for every run of it; synthetic data is generated at size
    generator = torch.Generator().manual_seed(identity.get("subset_seed", 0))
    train = data.train.sample(identity["train_samples"], generator)
    test = data.test.sample(identity["test_samples"], generator)
    return Dataset(train, test, data.classes), {"train": len(data.train), "test": len(data.test)}


def read_decoded(identity: Mapping, folder: str | Path) -> Dataset:
    """The splits the data job wrote into `folder` for `identity` (one read of each array file)."""
    folder = Path(folder)
    manifest = manifest_of(folder)
    files = [manifest, *map(Path, array_files(folder))]
    missing = next((path for path in files if not path.is_file()), None)
    if missing is not None:
        raise DataUnavailable(f"{missing} is missing: run the dataset rule (snakemake {manifest}), which decodes it")
    described = json.loads(manifest.read_text())
    if described["identity"] != dict(identity):  # another config's data: never train on it
        raise DataUnavailable(
            f"{folder} holds the dataset {described['identity']}, not the run's {dict(identity)}: give the run "
            "its own dataset's folder, or none to decode its source"
        )
    splits = {
        split: Split(torch.from_numpy(np.load(folder / images)), torch.from_numpy(np.load(folder / labels)))
        for split, (images, labels) in ARRAY_FILES.items()
    }
    return Dataset(splits["train"], splits["test"], tuple(described["classes"]))


def write_decoded(data: Dataset, folder: str | Path) -> dict[str, str]:
    """Write the splits as .npy arrays into `folder` (each file atomically); file name -> its sha256."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for split, names in ARRAY_FILES.items():
        part = getattr(data, split)
        for name, tensor in zip(names, (part.images, part.labels), strict=True):
            rundir.write_atomic(folder / name, partial(_save_array, tensor.contiguous().numpy()))
            with open(folder / name, "rb") as handle:
                digests[name] = hashlib.file_digest(handle, "sha256").hexdigest()
    return digests


def _save_array(array: np.ndarray, path: Path) -> None:
    with open(path, "wb") as handle:  # a file object: np.save would append .npy to the temporary file's name
        np.save(handle, array)


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
        images = np.empty((len(folder.samples), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)  # HWC, as PIL gives
        for index, (path, _) in enumerate(folder.samples):
            try:
                with Image.open(path) as image:
                    rgb = image.convert("RGB")
                    if rgb.size != (IMAGE_SIZE, IMAGE_SIZE):
                        rgb = rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
                    images[index] = np.asarray(rgb)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
                raise DataUnavailable(
                    f"{path} does not decode as an image ({type(error).__name__}: {error}): replace or remove it"
                ) from error
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        return Split(pixels, torch.tensor(folder.targets, dtype=torch.int64))

    return Dataset(decode(folders["train"]), decode(folders["test"]), tuple(folders["train"].classes))


def image_folders(root: str | Path) -> dict:
    """split -> torchvision's ImageFolder of root/<split> (files listed, not decoded)."""
    from torchvision.datasets import ImageFolder

    try:
        folders = {split: ImageFolder(str(Path(root) / split)) for split in ("train", "test")}
    except FileNotFoundError as error:  # no class folder, or one without images
        raise DataUnavailable(f"{root}: {error}") from error
    if folders["train"].classes != folders["test"].classes:
        raise DataUnavailable(f"{root}/train and {root}/test hold different class folders")
    if len(folders["train"].classes) < 2:
        raise DataUnavailable(
            f"{root}/train holds one class folder ({folders['train'].classes[0]}): a classifier needs two or more, "
            "one folder of images per class, the same names under train/ and test/"
        )
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


def prepare(identity: Mapping, root: str | Path, download: bool, folder: str | Path, fingerprint: str = "") -> dict:
    """The data job: fetch (a download source, with download) and decode the data once, before any train job,
    draw the identity's subset and write its splits into `folder` (ablate.data.layout), then the manifest beside
    it: the identity, the class names, the images available and used, each array file's sha256, and the
    source's `fingerprint` the workflow computed at parse time (ablate.datasources).

    Train jobs never download: on a cluster they may run where there is no network.
    """
    data, available = from_source(identity, root, download)
    files = write_decoded(data, folder)
    description = {
        "identity": dict(identity),
        "classes": list(data.classes),
        "available": available,
        "used": {"train": len(data.train), "test": len(data.test)},
        "sha256": files,
        "fingerprint": fingerprint,
    }
    rundir.write_json(manifest_of(folder), description)
    return description
