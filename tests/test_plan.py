"""Studies -> runs: resolution order, identity hashing, shared runs, and the plan CLI agreeing with Snakemake."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import time

from ablate.config import read_config_files, validated
from ablate.plan import config_hash, make_plan, resolve, variant_name

from conftest import REPO, job_counts, snakemake, synthetic_config


def full_config() -> dict:
    return validated(read_config_files([REPO / "config/config.yaml"]), check_paths=False)


def test_full_study_shares_identical_runs():
    plan = make_plan(full_config())
    variants = sum(len(s.variants) for s in plan.studies.values())
    assert (variants, len(plan.runs)) == (40, 38)
    assert plan.run_of("batch_size", "bs4", 0) is plan.run_of("dropout", "p0", 0)
    assert plan.run_of("loss", "cross_entropy", 0) is plan.run_of("optimizer", "sgd", 0)
    assert plan.run_of("dropout", "p0.5", 0) is not plan.run_of("dropout", "p0", 0)


def test_recipes_of_the_original_study():
    plan = make_plan(full_config())
    bs4 = plan.run_of("batch_size", "bs4", 0).config
    assert (bs4["model"], bs4["batch_size"], bs4["epochs"], bs4["dropout"], bs4["augment"]) == (
        "basic_cnn",
        4,
        6,
        0.0,
        False,
    )
    assert bs4["optimizer"] == {"name": "sgd", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False}
    residual = plan.run_of("residual", "resnet18", 0).config
    assert (residual["epochs"], residual["optimizer"]["lr"], residual["scheduler"]["name"]) == (200, 0.1, "plateau")
    adam = plan.run_of("optimizer", "adam", 0).config["optimizer"]
    assert adam == {"name": "adam", "lr": 0.01, "betas": [0.9, 0.999], "eps": None, "weight_decay": 0.0005}
    assert plan.run_of("vgg", "vgg_a_dropout", 0).config["dropout"] == 0.5
    landscape = plan.studies["landscape"]
    assert len(landscape.variants) == 8 and "vgg_a_bn-lr0.0005" in landscape.variants
    probed = plan.run_of("landscape", "vgg_a-lr0.001", 0).config
    assert probed["probes"] == ["step_loss", "grad_change", "beta", "line_search"] and probed["epochs"] == 25


def test_identity_ignores_where_and_how_fast_a_run_executes():
    config = full_config()
    moved = copy.deepcopy(config)
    moved["dataset"]["root"] = "/elsewhere/data"
    moved["dataset"]["download"] = False
    moved["execution"] = {"device": "cuda", "train_threads": 16, "compile": True, "eval_batch_size": 5}
    assert set(make_plan(config).runs) == set(make_plan(moved).runs)


def test_identity_follows_what_changes_results():
    config = full_config()
    before = make_plan(config)
    config["studies"]["batch_size"]["variants"]["bs128"]["epochs"] = 21
    after = make_plan(config)
    assert set(before.runs) ^ set(after.runs) == {
        before.run_of("batch_size", "bs128", 0).id,
        after.run_of("batch_size", "bs128", 0).id,
    }
    config["seeds"] = [0, 1]
    assert len(make_plan(config).runs) == 2 * len(after.runs)


def test_integer_and_float_spellings_are_one_run():
    one = validated(synthetic_config(optimizer={"lr": 1}), check_paths=False)
    other = validated(synthetic_config(optimizer={"lr": 1.0}), check_paths=False)
    assert list(make_plan(one).runs) == list(make_plan(other).runs)


def test_resolution_order_and_dotted_keys():
    config = validated(
        {
            "defaults": {"epochs": 1, "batch_size": 8},
            "recipes": {"r": {"epochs": 2, "batch_size": 16, "optimizer": {"lr": 0.5}}},
            "studies": {"s": {"recipe": "r", "epochs": 3, "variants": {"v": {"optimizer.lr": 0.25}}}},
            "overrides": {"batch_size": 32},
            "report": {"hyperparameters": {"study": "s", "variant": "v"}},
        },
        check_paths=False,
    )
    run = resolve(config, "s", {"optimizer": {"lr": 0.25}}, seed=7)
    assert (run["epochs"], run["batch_size"], run["optimizer"]["lr"], run["seed"]) == (3, 32, 0.25, 7)
    assert run["code_version"] >= 1 and run["dataset"]["name"] == "cifar10"


def test_hash_is_of_the_canonical_form():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert re.fullmatch(r"[0-9a-f]{10}", config_hash({}))


def test_grid_variant_names():
    assert variant_name({"model": "vgg_a", "optimizer.lr": 0.0001}) == "vgg_a-lr0.0001"
    assert variant_name({"optimizer.betas": [0.9, 0.99]}) == "betas0.9_0.99"


def test_plan_cli_and_snakemake_dry_run_agree_on_the_full_study(tmp_path, workflow_dir):
    printed = subprocess.run(
        [sys.executable, "-m", "ablate", "plan"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    totals = re.search(r"(\d+) studies, (\d+) variants listed, (\d+) variant-seed pairs, (\d+) unique runs", printed)
    assert totals and totals.groups() == ("9", "40", "40", "38")
    assert len(re.findall(r"results/runs/\S+-[0-9a-f]{10}", printed)) == 40

    started = time.perf_counter()
    result = snakemake(workflow_dir, "-n", "--cores", "all", timeout=60)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["train"] == 38 < 40
    assert counts["study_curves"] == counts["study_summary"] == counts["study_runs"] == 9
    assert seconds < 10, f"dry run took {seconds:.1f} s"


def test_studies_are_ordered_by_title_whatever_the_merge_order():
    config = full_config()
    config["studies"] = dict(reversed(list(config["studies"].items())))
    assert list(make_plan(config).studies) == [
        "batch_size",
        "dropout",
        "residual",
        "resnet_depth",
        "loss",
        "activation",
        "optimizer",
        "vgg",
        "landscape",
    ]
