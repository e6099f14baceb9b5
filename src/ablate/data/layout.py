"""Where the data stage's files land (workflow/rules/data.smk): once per dataset identity, its splits decoded
into uint8 arrays (a folder), and beside the folder the data job's manifest, what it found and wrote."""

from __future__ import annotations

from pathlib import Path

DATASET_ARRAYS = "results/data/{dataset}"  # the decoded splits: ARRAY_FILES
DATASET_MANIFEST = DATASET_ARRAYS + ".json"  # beside its folder (manifest_of)

# split -> (images: uint8 N x 3 x 32 x 32, labels: int64 N), .npy files in the dataset's folder
ARRAY_FILES = {split: (f"{split}-images.npy", f"{split}-labels.npy") for split in ("train", "test")}


def array_files(folder: str | Path) -> list[str]:
    """The array files of a decoded data folder, as paths (the data rule's outputs)."""
    return [f"{folder}/{name}" for names in ARRAY_FILES.values() for name in names]


def manifest_of(folder: str | Path) -> Path:
    """The manifest beside a decoded data folder (DATASET_ARRAYS -> DATASET_MANIFEST)."""
    folder = Path(folder)
    return folder.with_name(folder.name + ".json")
