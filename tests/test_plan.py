"""Studies -> runs: resolution order, identity hashing, shared runs, and the plan CLI agreeing with Snakemake."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest

from ablate.errors import ConfigError
from ablate.plan.config import read_config_files, validated
from ablate.plan.runs import config_hash, make_plan, resolve_run
from ablate.plan.variants import variant_name

from conftest import REPO, job_counts, snakemake, synthetic_config


def full_config() -> dict:
    return validated(read_config_files([REPO / "config/config.yaml"]), check_paths=False)


def test_full_study_runs_and_seeds():
    plan = make_plan(full_config())
    variants = sum(len(s.variants) for s in plan.studies.values())
    assert (variants, len(plan.members), len(plan.runs)) == (43, 97, 93)  # four runs grow: tests/test_grow.py
    three = {name for name, study in plan.studies.items() if study.seeds == (0, 1, 2)}
    assert three == {"batch_size", "dropout", "loss", "activation", "optimizer", "vgg"}
    assert plan.run_of("dropout", "p0.5", 2) is not plan.run_of("dropout", "p0.5", 0)
    assert plan.run_of("dropout", "p0.5", 0) is not plan.run_of("dropout", "p0", 0)


def test_recipes_of_the_original_study():
    """The recipes of config/config.yaml, as config/sources.yaml cites them from the author's code."""
    plan = make_plan(full_config())

    def run(study: str, variant: str) -> dict:
        member = plan.member(study, variant, plan.studies[study].seeds[0])
        return {**plan.runs[member.run_id].config, "epochs": member.epochs}

    bs4 = run("batch_size", "bs4")
    assert (bs4["model"], bs4["batch_size"], bs4["epochs"], bs4["dropout"], bs4["augment"]) == (
        "basic_cnn",
        4,
        6,
        0.0,
        False,
    )
    assert bs4["optimizer"] == {"name": "sgd", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False}
    dropout = run("dropout", "p0.5")  # dropout_figure.py
    assert (dropout["batch_size"], dropout["epochs"], dropout["optimizer"]["lr"], dropout["augment"]) == (
        128,
        10,
        0.1,
        False,
    )
    assert (dropout["dropout"], run("dropout", "p0")["dropout"]) == (0.5, 0.0)
    residual = run("residual", "resnet18")  # CIFAR-10.py
    assert (residual["epochs"], residual["batch_size"], residual["optimizer"]["lr"]) == (200, 256, 0.1)
    assert residual["scheduler"] == {"name": "plateau", "factor": 0.5, "patience": 5, "cooldown": 5, "min_lr": 1e-6}
    assert (run("resnet_depth", "resnet152")["batch_size"], run("resnet_depth", "resnet152")["epochs"]) == (128, 60)
    for study, variant, lr, epochs in (("loss", "mse", 0.1, 40), ("activation", "tanh", 0.1, 50)):
        config = run(study, variant)
        assert (config["batch_size"], config["optimizer"]["lr"], config["optimizer"]["weight_decay"]) == (256, lr, 5e-4)
        assert (config["epochs"], config["scheduler"]["name"], config["augment"]) == (epochs, "plateau", True)
    optimizers = {v: run("optimizer", v) for v in plan.studies["optimizer"].variants}
    assert list(optimizers) == ["sgd", "adam", "rmsprop", "adagrad", "adadelta", "adadelta-lr1.0"]
    assert all(c["optimizer"]["weight_decay"] == 5e-4 and c["batch_size"] == 256 for c in optimizers.values())
    assert optimizers["adam"]["optimizer"] == {
        "name": "adam",
        "lr": 0.01,
        "betas": [0.9, 0.999],
        "eps": None,
        "weight_decay": 0.0005,
    }
    assert optimizers["rmsprop"]["optimizer"]["momentum"] == 0.0  # PyTorch's RMSprop, as multi_optim.py
    assert optimizers["adadelta-lr1.0"]["optimizer"]["lr"] == 1.0
    vgg = run("vgg", "vgg_a_bn_dropout")  # VGG&BN/main.py: Adam (text), weight decay and plateau (code)
    assert vgg["optimizer"] == {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": None, "weight_decay": 5e-4}
    assert (vgg["scheduler"]["name"], vgg["epochs"], vgg["batch_size"], vgg["dropout"]) == ("plateau", 100, 128, 0.5)
    landscape = plan.studies["landscape"]
    assert len(landscape.variants) == 8 and "vgg_a_bn-lr0.0005" in landscape.variants
    probed = run("landscape", "vgg_a-lr0.001")  # loss landscape.py: Adam without weight decay or scheduler
    assert probed["probes"] == ["step_loss", "grad_change", "beta", "line_search", "curvature"]
    assert probed["epochs"] == 25
    assert (probed["optimizer"]["weight_decay"], probed["scheduler"], probed["precision"]) == (
        0.0,
        {"name": "none"},
        "fp32",
    )
    assert probed["line_search"]["direction"] == "update"
    santurkar = run("santurkar", "vgg_a_bn")
    assert santurkar["optimizer"] == {"name": "sgd", "lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False}
    assert (santurkar["init"], santurkar["augment"], santurkar["batch_size"], santurkar["precision"]) == (
        "glorot",
        False,
        128,
        "fp32",
    )
    assert santurkar["epochs"] * 50_000 // 128 >= 15_000 and santurkar["line_search"]["direction"] == "gradient"


def test_probe_runs_are_true_fp32():
    config = validated(synthetic_config(probes=["step_loss"]), check_paths=False)
    assert next(iter(make_plan(config).runs.values())).config["precision"] == "fp32"  # auto resolves to fp32
    for precision in ("bf16", "tf32"):
        config = validated(synthetic_config(probes=["beta"], precision=precision), check_paths=False)
        with pytest.raises(ConfigError, match=r"config error at studies\.s\.variants\.a\.precision: .*fp32"):
            make_plan(config)
    plain = validated(synthetic_config(), check_paths=False)
    assert next(iter(make_plan(plain).runs.values())).config["precision"] == "auto"


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
    config["studies"]["batch_size"]["variants"]["bs128"]["epochs"] = 21  # the same trajectory, one epoch longer
    after = make_plan(config)
    assert set(before.runs) == set(after.runs)
    assert [after.member("batch_size", "bs128", seed).epochs for seed in (0, 1, 2)] == [21, 21, 21]
    config["studies"]["batch_size"]["variants"]["bs128"]["batch_size"] = 64
    changed = make_plan(config)
    assert set(after.runs) ^ set(changed.runs) == {
        plan.run_of("batch_size", "bs128", seed).id for plan in (after, changed) for seed in (0, 1, 2)
    }
    for study in config["studies"].values():
        study.pop("seeds", None)  # every study on the top-level seeds
    one_seed = make_plan(config)
    config["seeds"] = [0, 1]
    assert len(make_plan(config).runs) == 2 * len(one_seed.runs)


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
    run = resolve_run(config, "s", {"optimizer": {"lr": 0.25}}, seed=7)
    assert (run["epochs"], run["batch_size"], run["optimizer"]["lr"], run["seed"]) == (3, 32, 0.25, 7)
    assert run["code_version"] >= 1 and run["dataset"]["name"] == "cifar10"


def test_hash_is_of_the_canonical_form():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert re.fullmatch(r"[0-9a-f]{10}", config_hash({}))


def test_grid_variant_names():
    assert variant_name({"model": "vgg_a", "optimizer.lr": 0.0001}) == "vgg_a-lr0.0001"
    assert variant_name({"optimizer.betas": [0.9, 0.99]}) == "betas0.9_0.99"


@pytest.mark.slow
def test_plan_cli_and_snakemake_dry_run_agree_on_the_full_study(tmp_path, workflow_dir):
    printed = subprocess.run(
        [sys.executable, "-m", "ablate", "plan"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    totals = re.search(r"(\d+) studies, (\d+) variants listed; (\d+) variant-seed pairs, (\d+) trajectories", printed)
    assert totals and totals.groups() == ("10", "43", "97", "93")
    assert len(re.findall(r"results/runs/\S+-[0-9a-f]{10}", printed)) == 97  # one row per member
    quoted = re.search(r"\d+ variant-seed pairs, \d+ trajectories, [\d,]+ epochs in all", printed).group(0)
    assert f'"{quoted}" for the full study' in " ".join((REPO / "README.md").read_text().split())  # as it quotes it

    result = snakemake(workflow_dir, "-n", "--cores", "all", timeout=120)
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["train"] == 93
    assert counts["study_curves"] == counts["study_summary"] == counts["study_runs"] == 10


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
        "santurkar",
    ]


def test_a_studys_surface_is_not_part_of_any_runs_identity():
    """The surface is an analysis of trained runs: naming, changing or dropping it retrains nothing."""
    config = full_config()
    plan = make_plan(config)
    landscape = plan.studies["landscape"]
    assert landscape.surface == {"span": 1.0, "points": 11, "images": 1000, "path_points": 13, "seed": 0,
                                 "variants": ["vgg_a-lr0.001", "vgg_a_bn-lr0.001"]}  # fmt: skip
    assert landscape.surface_members == tuple(plan.member("landscape", v, 0) for v in landscape.surface["variants"])
    santurkar = plan.studies["santurkar"]
    assert tuple(m.run_id for m in santurkar.surface_members) == tuple(santurkar.run_ids)
    changed = copy.deepcopy(config)
    changed["studies"]["landscape"]["surface"] = {"span": 0.5, "points": 21}
    changed["studies"]["santurkar"].pop("surface")
    after = make_plan(changed)
    assert set(after.runs) == set(plan.runs) and after.studies["santurkar"].surface is None
    changed["studies"]["landscape"]["surface"] = {"variants": ["vgg_a-lr0.01"]}
    with pytest.raises(ConfigError, match=r"studies\.landscape\.surface\.variants: no variant 'vgg_a-lr0\.01'"):
        make_plan(changed)
