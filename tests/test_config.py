"""Config validation: every bad config stops before any job runs, with one message naming the key."""

from __future__ import annotations

import pytest
import yaml

from ablate.config import validated
from ablate.errors import ConfigError
from ablate.plan import make_plan

from conftest import REPO, snakemake

BAD_CONFIGS = {
    "unknown model": (
        {"studies": {"batch_size": {"variants": {"bs4": {"model": "resnet19"}}}}},
        "studies.batch_size.variants.bs4.model",
        "resnet19",
    ),
    "unknown loss": ({"defaults": {"loss": "hinge"}}, "defaults.loss", "hinge"),
    "unknown optimizer": (
        {"recipes": {"resnet": {"optimizer": {"name": "lbfgs"}}}},
        "recipes.resnet.optimizer.name",
        "lbfgs",
    ),
    "unknown optimizer in a dotted variant key": (
        {"studies": {"optimizer": {"variants": {"sgd": {"optimizer.name": "sgdd"}}}}},
        "studies.optimizer.variants.sgd.optimizer.name",
        "sgdd",
    ),
    "negative lr": ({"studies": {"loss": {"optimizer": {"lr": -0.1}}}}, "studies.loss.optimizer.lr", "-0.1"),
    "negative lr in a grid": (
        {"studies": {"landscape": {"grid": {"optimizer.lr": [0.001, -1.0]}}}},
        "studies.landscape.grid",
        "-1.0",
    ),
    "epochs 0": ({"defaults": {"epochs": 0}}, "defaults.epochs", "0"),
    "variant name with a slash": (
        {"studies": {"dropout": {"variants": {"a/b": {"dropout": 0.1}}}}},
        "studies.dropout.variants",
        "a/b",
    ),
    "variant name ..": (
        {"studies": {"dropout": {"variants": {"..": {"dropout": 0.1}}}}},
        "studies.dropout.variants",
        "..",
    ),
    "study name with a slash": ({"studies": {"x/y": {"variants": {"a": {}}}}}, "studies", "x/y"),
    "missing dataset root": (
        {"dataset": {"name": "image_folder", "root": "no/such/folder"}},
        "dataset.root",
        "no/such/folder",
    ),
    "cifar10 without download and without data": (
        {"dataset": {"name": "cifar10", "root": "no/such/folder", "download": False}},
        "dataset.root",
        "cifar-10-python.tar.gz",
    ),
    "unknown recipe": ({"studies": {"loss": {"recipe": "resnett"}}}, "studies.loss.recipe", "resnett"),
    "unknown probe": ({"studies": {"landscape": {"probes": ["hessian"]}}}, "studies.landscape.probes", "hessian"),
    "section 1.9 on a network that is not a ResNet": (
        {"report": {"filters": {"study": "vgg", "variant": "vgg_a"}}},
        "report.filters",
        "vgg_a",
    ),
    "unknown key": ({"defaults": {"learning_rate": 0.1}}, "defaults", "learning_rate"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_stops_snakemake_before_any_job(case, workflow_dir):
    overrides, key, detail = BAD_CONFIGS[case]
    (workflow_dir / "bad.yaml").write_text(yaml.safe_dump(overrides))
    result = snakemake(workflow_dir, "--cores", "1", "--configfile", "bad.yaml", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    messages = [line for line in output.splitlines() if "config error at" in line]
    assert len(messages) == 1, output
    assert f"config error at {key}" in messages[0] and detail in messages[0], messages[0]
    assert not (workflow_dir / "results").exists(), "a job ran before the config was rejected"


def test_valid_names_are_listed_when_a_name_is_unknown():
    with pytest.raises(ConfigError) as raised:
        validated({"defaults": {"model": "resnet19"}}, check_paths=False)
    for name in ("basic_cnn", "resnet18", "vgg_a_bn"):
        assert name in str(raised.value)


def test_grid_error_names_the_variant_values():
    config = validated(
        {
            "studies": {"g": {"grid": {"epochs": [1, 0]}}},
            "report": {"hyperparameters": {"study": "g", "variant": "epochs1"}},
        },
        check_paths=False,
    )
    with pytest.raises(ConfigError, match=r"studies\.g\.grid.*epochs"):
        make_plan(config)


def test_a_study_needs_variants_or_grid():
    with pytest.raises(ConfigError, match=r"studies\.s: a study needs either `variants` or `grid`"):
        validated({"studies": {"s": {"epochs": 3}}}, check_paths=False)


def test_defaults_fill_every_run_key():
    config = validated({}, check_paths=False)
    assert config["defaults"]["optimizer"] == {
        "name": "sgd",
        "lr": 0.001,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "nesterov": False,
        "betas": [0.9, 0.999],
        "eps": None,
        "rho": 0.9,
        "alpha": 0.99,
    }
    assert config["execution"]["device"] == "auto"
    assert config["dataset"] == {
        "name": "cifar10",
        "root": "resources/data",
        "download": True,
        "id": None,
        "train_samples": None,
        "test_samples": None,
        "subset_seed": 0,
        "seed": 0,
    }


def test_a_later_config_file_removes_a_study_with_null():
    from ablate.config import merge, read_config_files

    full = read_config_files([REPO / "config/config.yaml"])
    reduced = merge(
        full,
        {
            "studies": {name: None for name in full["studies"] if name != "batch_size"},
            "report": {"filters": None, "feature_maps": None},
        },
    )
    plan = make_plan(validated(reduced, check_paths=False))
    assert list(plan.studies) == ["batch_size"] and len(plan.runs) == 3 * 3  # 3 variants, 3 seeds
