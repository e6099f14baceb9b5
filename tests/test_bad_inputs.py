"""Inputs that used to pass without a word: each now stops with one message naming the file, the key and the fix,
before any job runs (the image folder's checks: tests/test_data.py; a damaged run: tests/test_damaged.py)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ablate.errors import ConfigError
from ablate.execution.pool import GpuPoolError, require_no_gpus
from ablate.plan.config import read_config_files, read_yaml, validated

from conftest import REPO, snakemake, tool_env

DEFAULT = REPO / "config/config.yaml"


def test_an_even_surface_grid_names_the_file_key_and_fix(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("studies:\n  santurkar:\n    surface: {points: 4}\n")
    files = [DEFAULT, overlay]
    with pytest.raises(ConfigError) as raised:
        validated(read_config_files(files), check_paths=False, files=files)
    assert str(raised.value) == (
        f"{overlay}: config error at studies.santurkar.surface.points: 4 is even; the grid runs from -span to span "
        "and must have the final weights (0) at its centre: use an odd number such as 5"
    )
    overlay.write_text("studies:\n  santurkar:\n    surface: {points: 5}\n")
    assert validated(read_config_files(files), check_paths=False, files=files)["studies"]["santurkar"]["surface"]


def test_the_surfaces_old_samples_key_names_the_new_one(tmp_path):
    # `samples` counts Hutchinson vectors in the curvature settings; the surface's count of images is `images`
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("studies:\n  santurkar:\n    surface: {samples: 64}\n")
    files = [DEFAULT, overlay]
    with pytest.raises(ConfigError) as raised:
        validated(read_config_files(files), check_paths=False, files=files)
    assert str(raised.value) == (
        f"{overlay}: config error at studies.santurkar.surface.samples: 'samples' was renamed 'images': "
        "write `images: 64`"
    )
    overlay.write_text("studies:\n  santurkar:\n    surface: {samples: 64, images: 64}\n")
    with pytest.raises(ConfigError, match=r"surface.samples: 'samples' was renamed 'images': delete `samples`"):
        validated(read_config_files(files), check_paths=False, files=files)
    overlay.write_text("studies:\n  santurkar:\n    surface: {images: 64}\n")
    assert validated(read_config_files(files), check_paths=False, files=files)["studies"]["santurkar"]["surface"] == {
        "images": 64
    }


def test_a_schema_error_names_the_last_file_that_sets_the_key(tmp_path):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("execution: {eval_batch_size: 0}\n")
    second.write_text("defaults: {epochs: 3}\n")
    files = [DEFAULT, first, second]
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(first))}: config error at execution.eval_batch_size: 0"):
        validated(read_config_files(files), check_paths=False, files=files)
    second.write_text("execution: {eval_batch_size: -1}\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(second))}: config error at execution.eval_batch_size"):
        validated(read_config_files(files), check_paths=False, files=files)


def test_a_key_given_twice_names_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("defaults:\n  epochs: 3\n  batch_size: 64\n  epochs: 5\n")
    with pytest.raises(ConfigError) as raised:
        read_yaml(path)
    assert str(raised.value) == (
        f"{path}:4:3: key 'epochs' is given twice in one mapping (first at line 2); YAML would keep the later value "
        "without a word: delete one of them"
    )
    path.write_text("a: {epochs: 3}\nb: {epochs: 3}\n")  # the same key in two mappings is fine
    assert read_yaml(path) == {"a": {"epochs": 3}, "b": {"epochs": 3}}


def test_gpus_named_where_jobs_run_on_the_cpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    require_no_gpus({"gpus": "all", "device": "auto"})  # the default asks for none in particular
    with pytest.raises(GpuPoolError, match=r"^config error at execution.gpus: \[0, 1\] asks for CUDA GPUs, but"):
        require_no_gpus({"gpus": [0, 1], "device": "auto"})
    with pytest.raises(GpuPoolError, match=r"\(execution.device is cpu\): remove execution.gpus"):
        require_no_gpus({"gpus": 2, "device": "cpu"})


def test_snakemake_stops_on_gpus_without_a_gpu_naming_the_file(workflow_dir, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the same on a machine with a GPU
    overlay = workflow_dir / "gpus.yaml"
    overlay.write_text("execution: {gpus: 2}\n")
    result = snakemake(
        workflow_dir, "-n", "--cores", "1", "--configfile", "config/smoke.yaml", "gpus.yaml", timeout=120
    )
    output = result.stdout + result.stderr  # a dry run prints Snakemake's error to stdout
    assert result.returncode != 0
    assert "gpus.yaml: config error at execution.gpus: 2 asks for CUDA GPUs" in output, output[-3000:]


def test_a_missing_configfile_snakemake_cannot_name_and_plan_does(tmp_path, workflow_dir):
    """Snakemake opens --configfile files before the workflow runs (a traceback ending in FileNotFoundError, which
    docs/config.md says); `python -m ablate plan` gives the one message it points to."""
    missing = tmp_path / "nope.yaml"
    under_snakemake = snakemake(workflow_dir, "-n", "--cores", "1", "--configfile", str(missing), timeout=120)
    assert under_snakemake.returncode != 0
    assert "FileNotFoundError" in under_snakemake.stdout + under_snakemake.stderr
    plan = subprocess.run(
        [sys.executable, "-m", "ablate", "plan", "--configfile", str(missing)],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plan.returncode == 2 and plan.stderr == f"error: config file {str(missing)!r} does not exist\n"
