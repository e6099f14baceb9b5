"""The data pipeline: real CIFAR-10 files (written here), augmentation semantics, batching, synthetic data."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.datasets import CIFAR10

from ablate.data import batches, datasets
from ablate.errors import DataUnavailable

from conftest import REPO, snakemake


def _md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


@pytest.fixture
def cifar_archive(tmp_path, monkeypatch):
    """A small cifar-10-python.tar.gz in the real format; torchvision's MD5 table is pointed at it."""
    rng = np.random.default_rng(0)
    files, checksums = {}, {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        pixels = rng.integers(0, 256, size=(20, 3072), dtype=np.uint8)
        batch = {
            "batch_label": name,
            "labels": [int(i) % 10 for i in range(20)],
            "data": pixels,
            "filenames": [f"{name}_{i}.png" for i in range(20)],
        }
        files[name] = pickle.dumps(batch, protocol=2)
    files["batches.meta"] = pickle.dumps({"label_names": list(datasets.CIFAR10_CLASSES), "num_vis": 3072}, protocol=2)
    checksums = {name: _md5(payload) for name, payload in files.items()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    archive = buffer.getvalue()
    monkeypatch.setattr(CIFAR10, "train_list", [[n, checksums[n]] for n in names[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", checksums["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": checksums["batches.meta"]})
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(archive))
    root = tmp_path / "data"
    root.mkdir()
    (root / datasets.CIFAR10_ARCHIVE).write_bytes(archive)
    return root, files


def test_cifar10_archive_is_verified_extracted_and_decoded(cifar_archive, tmp_path):
    root, files = cifar_archive
    dataset = datasets.cifar10(root, download=True)  # the archive is there: no network needed
    assert (root / "cifar-10-batches-py" / "test_batch").exists()
    assert dataset.train.images.shape == (100, 3, 32, 32) and dataset.test.images.shape == (20, 3, 32, 32)
    assert dataset.train.images.dtype == torch.uint8 and dataset.classes == datasets.CIFAR10_CLASSES
    raw = pickle.loads(files["test_batch"])["data"][3]  # row-major: 1024 red, 1024 green, 1024 blue
    assert torch.equal(dataset.test.images[3], torch.from_numpy(raw.reshape(3, 32, 32)))
    assert dataset.test.labels[:12].tolist() == [i % 10 for i in range(12)]
    manifest = datasets.prepare(
        {"name": "cifar10", "train_samples": 50, "test_samples": None}, root, False, tmp_path / "decoded"
    )
    assert manifest["available"] == {"train": 100, "test": 20} and manifest["used"] == {"train": 50, "test": 20}


def test_the_docs_recipe_makes_an_image_folder_of_the_archives_pixels(cifar_archive, tmp_path, monkeypatch):
    """docs/data.md's block that writes CIFAR-10's archive as a folder of PNGs, run as a user would (from the
    working directory, the archive in resources/data): image_folder reads back every pixel and label."""
    root, _ = cifar_archive
    block = re.search(r"```python\n(.*?)```", (REPO / "docs" / "data.md").read_text(), re.S).group(1)
    work = tmp_path / "work"
    (work / "resources").mkdir(parents=True)
    shutil.copytree(root, work / "resources" / "data")
    monkeypatch.chdir(work)
    exec(compile(block, "docs/data.md", "exec"), {})
    folder = datasets.image_folder(work / "cifar-png")
    archive = datasets.cifar10(work / "resources" / "data", download=False)
    assert folder.classes == archive.classes == datasets.CIFAR10_CLASSES
    for split in ("train", "test"):
        ours, theirs = getattr(folder, split), getattr(archive, split)
        by_class = np.argsort(theirs.labels.numpy(), kind="stable")  # ImageFolder: class folders, then file names
        assert torch.equal(ours.labels, theirs.labels[by_class])
        assert torch.equal(ours.images, theirs.images[by_class])


@pytest.mark.slow
def test_a_run_trains_on_cifar10_format_files(cifar_archive, tmp_path):
    from ablate.training.trainer import Runtime, train_run

    root, _ = cifar_archive
    datasets.cifar10(root, download=True)
    from ablate.plan.config import validated
    from ablate.plan.runs import make_plan

    from conftest import synthetic_config

    config = synthetic_config(epochs=1)
    config["dataset"] = {"name": "cifar10", "root": str(root), "download": False}
    run = next(iter(make_plan(validated(config)).runs.values()))
    metrics = train_run(run.train_config, tmp_path / "run", Runtime(threads=1, data_root=str(root)), log=lambda _: None)
    assert metrics["epochs_completed"] == 1 and not metrics["diverged"]


def test_failed_download_says_where_to_put_the_archive(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    with pytest.raises(DataUnavailable) as raised:
        datasets.cifar10(tmp_path / "nothing", download=True)
    message = str(raised.value)
    assert datasets.CIFAR10_ARCHIVE in message and str(tmp_path / "nothing") in message


def test_random_crop_flip_matches_torchvision_semantics():
    images = torch.arange(5 * 3 * 32 * 32, dtype=torch.int64).remainder(251).add(1).to(torch.uint8)
    images = images.view(5, 3, 32, 32)
    generator = torch.Generator().manual_seed(0)
    seen_offsets, flips = set(), 0
    for _ in range(40):
        out = batches.random_crop_flip(images, generator)
        padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
        for i in range(5):
            matches = [
                (dy, dx, flip)
                for dy in range(9)
                for dx in range(9)
                for flip in (False, True)
                if torch.equal(
                    out[i],
                    (
                        padded[i, :, dy : dy + 32, dx : dx + 32].flip(2)
                        if flip
                        else padded[i, :, dy : dy + 32, dx : dx + 32]
                    ),
                )
            ]
            assert len(matches) == 1
            seen_offsets.add(matches[0][:2])
            flips += matches[0][2]
    assert len(seen_offsets) > 60 and 60 < flips < 140  # 200 samples: offsets cover the 9x9 grid, ~half flipped


def test_normalizer():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    normalize = batches.Normalizer([0.4, 0.5, 0.6], [0.2, 0.25, 0.3], "cpu")
    expected = (images.float() / 255 - torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)) / torch.tensor(
        [0.2, 0.25, 0.3]
    ).view(1, 3, 1, 1)
    assert torch.allclose(normalize(images), expected, atol=1e-5)


def test_an_epoch_visits_every_sample_once_in_seeded_order():
    split = datasets.Split(torch.zeros(100, 3, 32, 32, dtype=torch.uint8), torch.arange(100))
    normalize = batches.Normalizer([0.5] * 3, [0.5] * 3, "cpu")

    def epoch(seed: int) -> list[torch.Tensor]:
        epoch_batches = batches.train_batches(
            split, 16, torch.Generator().manual_seed(seed), normalize, augment=True, chunk_samples=40
        )
        return [labels for _, labels in epoch_batches]

    labels = epoch(1)
    assert [len(b) for b in labels] == [16] * 6 + [4]
    assert sorted(torch.cat(labels).tolist()) == list(range(100))
    assert all(torch.equal(a, b) for a, b in zip(labels, epoch(1), strict=True))
    assert not torch.equal(torch.cat(labels), torch.cat(epoch(2)))


def test_synthetic_data_is_seeded():
    a, b, c = datasets.synthetic(64, 32, seed=0), datasets.synthetic(64, 32, seed=0), datasets.synthetic(64, 32, seed=1)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.train.images, c.train.images)
    assert a.train.images.dtype == torch.uint8 and a.train.images.shape == (64, 3, 32, 32)
    assert set(a.train.labels.tolist()) == set(range(10))


def test_image_folder_is_decoded_to_rgb_32x32(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for split, count in (("train", 3), ("test", 2)):
        for label in ("cat", "dog"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, size=(48, 40), dtype=np.uint8)).convert("L").save(
        tmp_path / "train" / "dog" / "gray.jpg"
    )
    dataset = datasets.image_folder(tmp_path)
    assert dataset.classes == ("cat", "dog")
    assert dataset.train.images.shape == (7, 3, 32, 32) and dataset.test.images.shape == (4, 3, 32, 32)
    assert dataset.train.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    first = np.array(Image.open(tmp_path / "train" / "cat" / "0.png"))
    assert torch.equal(dataset.train.images[0], torch.from_numpy(first).permute(2, 0, 1))
    manifest = datasets.prepare(
        {"name": "image_folder", "train_samples": None, "test_samples": None}, tmp_path, False, tmp_path / "decoded"
    )
    assert manifest["available"] == {"train": 7, "test": 4}


def test_a_subset_of_a_class_sorted_folder_holds_every_class_equally(tmp_path):
    """image_folder lists files class by class: a subset must be a stratified sample, not the first N."""
    from PIL import Image

    from ablate.plan.runs import dataset_identity

    rng = np.random.default_rng(2)
    classes = [f"c{k}" for k in range(5)]
    for split, count in (("train", 12), ("test", 6)):
        for label in classes:
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    settings = {"name": "image_folder", "root": str(tmp_path), "id": "folder", "seed": 0}
    identity = dataset_identity({**settings, "train_samples": 20, "test_samples": 10, "subset_seed": 0})
    assert identity["subset_seed"] == 0  # which images a subset holds is part of every run's identity
    dataset = datasets.load_dataset(identity, tmp_path)
    assert torch.bincount(dataset.train.labels).tolist() == [4] * 5
    assert torch.bincount(dataset.test.labels).tolist() == [2] * 5
    # the same draw every time, another one with another subset_seed
    again = datasets.load_dataset(identity, tmp_path)
    assert torch.equal(again.train.images, dataset.train.images)
    other = datasets.load_dataset({**identity, "subset_seed": 1}, tmp_path)
    assert not torch.equal(other.train.images, dataset.train.images)
    # not a multiple of the class count: shares differ by at most one image
    odd = datasets.load_dataset({**identity, "train_samples": 23}, tmp_path)
    assert sorted(torch.bincount(odd.train.labels).tolist()) == [4, 4, 5, 5, 5]
    full = dataset_identity({**settings, "train_samples": None, "test_samples": None, "subset_seed": 0})
    assert "subset_seed" not in full  # all the data: no draw, no identity change


def test_synthetic_classes_are_balanced():
    generated = datasets.synthetic(100, 50, seed=3)
    assert torch.bincount(generated.train.labels).tolist() == [10] * 10
    assert torch.bincount(generated.test.labels).tolist() == [5] * 10


@pytest.mark.slow
def test_a_failing_data_job_shows_its_reason_in_the_terminal(workflow_dir):
    """Without a profile (no --show-failed-logs), the reason reaches snakemake's output, not only the log."""
    from PIL import Image

    for split, cls in (("train", "cat"), ("test", "dog")):  # different classes: the data job refuses them
        (workflow_dir / "imgs" / split / cls).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(workflow_dir / "imgs" / split / cls / "0.png")
    (workflow_dir / "folder.yaml").write_text("dataset: {name: image_folder, root: imgs}\n")
    result = snakemake(workflow_dir, "--cores", "1", "--configfile", "config/smoke.yaml", "folder.yaml", timeout=300)
    assert result.returncode != 0
    assert "imgs/train and imgs/test hold different class folders" in result.stdout + result.stderr
    assert not list((workflow_dir / "results").glob("runs/*/metrics.json"))


# the data job decodes once (datasets.prepare); jobs load its arrays (load_dataset with `decoded`)


def _write_folder(root, counts: dict[str, int], classes=("cat", "dog", "frog"), seed: int = 4) -> None:
    """root/<split>/<class>/<i>.png or .jpg (every other one a JPEG, one of them grey and larger than 32x32)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for label in classes:
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / label / (f"{i}.png" if i % 2 else f"{i}.jpg"))
    Image.fromarray(rng.integers(0, 256, size=(40, 48), dtype=np.uint8)).save(root / "train" / classes[0] / "grey.jpg")


def _folder_identity(root, train_samples, test_samples, subset_seed: int = 0) -> dict:
    from ablate.plan.runs import dataset_identity

    return dataset_identity(
        {
            "name": "image_folder",
            "root": str(root),
            "id": "folder",
            "seed": 0,
            "train_samples": train_samples,
            "test_samples": test_samples,
            "subset_seed": subset_seed,
        }
    )


@pytest.fixture(params=["synthetic", "image_folder", "cifar10"])
def source(request, tmp_path):
    """(identity, root) of each source kind, small: generated, a folder of PNG and JPEG files, CIFAR-10's files."""
    from ablate.plan.runs import dataset_identity

    if request.param == "synthetic":
        settings = {"name": "synthetic", "id": None, "seed": 2, "train_samples": 60, "test_samples": 30}
        return dataset_identity({**settings, "subset_seed": 0, "root": "unused"}), tmp_path / "unused"
    if request.param == "image_folder":
        _write_folder(tmp_path / "imgs", {"train": 7, "test": 4})
        return _folder_identity(tmp_path / "imgs", 10, None, subset_seed=5), tmp_path / "imgs"
    root, _ = request.getfixturevalue("cifar_archive")
    datasets.cifar10(root, download=True)  # extracted, as the data job does before any run
    return {"name": "cifar10", "id": "cifar10", "train_samples": 30, "test_samples": 10, "subset_seed": 1}, root


def test_the_data_jobs_arrays_are_what_a_run_decodes_from_its_source(source, tmp_path):
    identity, root = source
    folder = tmp_path / "results/data/d-0123456789"
    manifest = datasets.prepare(identity, root, False, folder, fingerprint="abc")
    decoded = datasets.load_dataset(identity, "nowhere", decoded=folder)
    direct = datasets.load_dataset(identity, root)
    for split in ("train", "test"):
        ours, theirs = getattr(decoded, split), getattr(direct, split)
        assert ours.images.dtype == torch.uint8 and ours.labels.dtype == torch.int64
        assert ours.images.shape[1:] == (3, 32, 32) and len(ours) == manifest["used"][split]
        assert torch.equal(ours.images, theirs.images) and torch.equal(ours.labels, theirs.labels)
    assert decoded.classes == direct.classes and manifest["classes"] == list(direct.classes)
    # the manifest: what it had, and each array file's sha256 and the source's fingerprint
    assert manifest == json.loads((tmp_path / "results/data/d-0123456789.json").read_text())
    assert manifest["identity"] == identity and manifest["fingerprint"] == "abc"
    assert sorted(manifest["sha256"]) == sorted(path.name for path in folder.iterdir())
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert not [path for path in folder.parent.rglob(".*")]  # atomic writes leave no temporary file


def test_decoded_data_must_be_there_and_be_the_runs(tmp_path):
    identity = {"name": "synthetic", "id": "synthetic", "train_samples": 20, "test_samples": 10, "seed": 0}
    folder = tmp_path / "synthetic-x"
    with pytest.raises(DataUnavailable, match=r"synthetic-x.json is missing: run the dataset rule"):
        datasets.load_dataset(identity, "unused", decoded=folder)
    datasets.prepare(identity, "unused", False, folder)
    (folder / "test-labels.npy").unlink()
    with pytest.raises(DataUnavailable, match=r"test-labels.npy is missing: run the dataset rule"):
        datasets.load_dataset(identity, "unused", decoded=folder)
    datasets.prepare(identity, "unused", False, folder)
    with pytest.raises(DataUnavailable, match="not the run's"):  # another config's data
        datasets.load_dataset({**identity, "seed": 1}, "unused", decoded=folder)


def test_a_run_on_the_decoded_arrays_equals_one_decoding_its_source(tmp_path):
    from ablate.plan.config import validated
    from ablate.plan.runs import make_plan
    from ablate.training.trainer import Runtime, train_run

    from conftest import synthetic_config

    config = synthetic_config(epochs=1, width=0.25)
    config["dataset"].update(train_samples=96, test_samples=48)
    run = next(iter(make_plan(validated(config, check_paths=False)).runs.values())).train_config
    datasets.prepare(run["dataset"], "unused", False, tmp_path / "data")
    quiet = lambda _: None  # noqa: E731
    plain = train_run(run, tmp_path / "plain", Runtime(threads=1), quiet)
    loaded = train_run(run, tmp_path / "decoded", Runtime(threads=1, decoded_data=str(tmp_path / "data")), quiet)
    assert plain["final_test_acc"] == loaded["final_test_acc"]
    columns = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"]
    history = [pd.read_csv(tmp_path / name / "history.csv")[columns] for name in ("plain", "decoded")]
    assert history[0].equals(history[1])
    weights = [torch.load(tmp_path / name / "model.pt", weights_only=True) for name in ("plain", "decoded")]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_a_folders_fingerprint_changes_with_its_files_not_its_place(tmp_path):
    import os
    import shutil

    from ablate import registry

    _write_folder(tmp_path / "a", {"train": 2, "test": 1})
    folder = registry.DATASETS["image_folder"].source
    before = folder.fingerprint({"root": str(tmp_path / "a")})
    shutil.copytree(tmp_path / "a", tmp_path / "moved" / "a")  # copy2: sizes and modification times kept
    assert folder.fingerprint({"root": str(tmp_path / "moved" / "a")}) == before
    (tmp_path / "a/test/dog/new.png").write_bytes((tmp_path / "a/test/dog/0.jpg").read_bytes())
    added = folder.fingerprint({"root": str(tmp_path / "a")})
    assert added != before
    rewritten = tmp_path / "a/train/cat/1.png"
    stat = rewritten.stat()
    rewritten.write_bytes(bytes(reversed(rewritten.read_bytes())))  # the same size
    os.utime(rewritten, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a later write, on any file system
    assert folder.fingerprint({"root": str(tmp_path / "a")}) not in (before, added)
    assert registry.DATASETS["cifar10"].source.fingerprint({}) == datasets.CIFAR10_ARCHIVE
    assert registry.DATASETS["synthetic"].source.fingerprint({}) == ""


def test_the_fingerprint_imports_neither_torch_nor_pil(tmp_path):
    """The workflow computes it at parse time."""
    code = (
        "import sys; from ablate import datasources; datasources.folder_fingerprint(sys.argv[1]); "
        "assert not {'torch', 'PIL', 'torchvision'} & set(sys.modules), sorted(sys.modules)"
    )
    _write_folder(tmp_path, {"train": 1, "test": 1})
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)


@pytest.mark.parametrize("problem", ["bad image", "too few", "classes differ", "empty class", "one class"])
def test_the_data_job_refuses_a_broken_folder_with_one_message(problem, tmp_path):
    root = tmp_path / "imgs"
    _write_folder(root, {"train": 3, "test": 2})
    identity = _folder_identity(root, None, None)
    if problem == "bad image":
        (root / "train/dog/1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
        expected = f"{root}/train/dog/1.png does not decode as an image"
    elif problem == "too few":
        identity = _folder_identity(root, 5, 7)
        expected = f"{root}/test holds 6 images, fewer than dataset.test_samples asks for (7)"
    elif problem == "classes differ":
        (root / "test/frog").rename(root / "test/toad")
        expected = f"{root}/train and {root}/test hold different class folders"
    elif problem == "empty class":
        shutil.rmtree(root / "test/dog")
        (root / "test/dog").mkdir()
        expected = "Found no valid file for the classes dog"
    else:
        for split in ("train", "test"):
            for other in ("dog", "frog"):
                shutil.rmtree(root / split / other)
        expected = f"{root}/train holds one class folder (cat)"
    with pytest.raises(DataUnavailable, match=re.escape(expected)):
        datasets.prepare(identity, root, False, tmp_path / "data")
    if problem == "bad image":  # the entry script: the message alone, no traceback
        (tmp_path / "identity.json").write_text(json.dumps(identity))
        script = REPO / "workflow/scripts/dataset.py"
        args = ["--identity", str(tmp_path / "identity.json"), "--root", str(root), "--out", str(tmp_path / "data")]
        result = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {expected}"), lines
