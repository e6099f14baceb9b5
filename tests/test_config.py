"""Config validation: every bad config stops before any job runs, with one message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ablate.errors import ConfigError
from ablate.plan.config import read_config_files, validated
from ablate.plan.runs import make_plan

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
    "variant that is not a mapping": (
        {"studies": {"batch_size": {"variants": {"bs256": 3}}}},
        "studies.batch_size.variants.bs256",
        "3 is not a variant: give a mapping of run keys (e.g. {batch_size: 256}) or null to remove the variant",
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
    "unknown key": ({"defaults": {"learning_rate": 0.1}}, "defaults.learning_rate", "learning_rate"),
    "misspelt key in a dotted variant key": (
        {"studies": {"loss": {"variants": {"mse": {"optimzer.lr": 0.1}}}}},
        "studies.loss.variants.mse.optimzer",
        "did you mean 'optimizer'?",
    ),
    "misspelt key in the overrides": ({"overrides": {"epoch": 2}}, "overrides.epoch", "did you mean 'epochs'?"),
    "report names a variant its study lacks": (
        {"report": {"filters": {"study": "residual", "variant": "resnet19"}}},
        "report.filters.variant",
        "study 'residual' has no variant 'resnet19'; did you mean 'resnet18'?",
    ),
}


# one case per place a config error is raised at parse time (schema, the plan's grids, the data's source): the
# Snakefile turns each into one message before any job; the library test below covers every case
THROUGH_SNAKEMAKE = ("unknown key", "negative lr in a grid", "missing dataset root")


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_raises_one_error_naming_the_key_at_parse_time(case, tmp_path):
    """What the Snakefile runs at parse time (common.smk): the files merged, validated, planned."""
    overrides, key, detail = BAD_CONFIGS[case]
    files = [REPO / "config/config.yaml", tmp_path / "bad.yaml"]
    files[1].write_text(yaml.safe_dump(overrides))
    with pytest.raises(ConfigError) as raised:
        make_plan(validated(read_config_files(files), files=files))
    assert f"config error at {key}" in str(raised.value) and detail in str(raised.value), str(raised.value)


@pytest.mark.slow
@pytest.mark.parametrize("case", THROUGH_SNAKEMAKE)
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
    from ablate.plan.config import merge, read_config_files

    full = read_config_files([REPO / "config/config.yaml"])
    reduced = merge(
        full,
        {
            "studies": {name: None for name in full["studies"] if name != "batch_size"},
            "report": {"filters": None, "feature_maps": None},
        },
    )
    plan = make_plan(validated(reduced, check_paths=False))
    assert list(plan.studies) == ["batch_size"] and len(plan.runs) == 5 * 3  # 5 variants, 3 seeds


def test_a_later_config_file_removes_a_variant_with_null(tmp_path):
    from ablate.plan.config import read_config_files

    (tmp_path / "fewer.yaml").write_text("studies:\n  batch_size:\n    variants:\n      bs256: null\n")
    config = validated(read_config_files([REPO / "config/config.yaml", tmp_path / "fewer.yaml"]), check_paths=False)
    kept = ["bs4", "bs128", "bs128-lr0.005", "bs256-lr0.005"]  # all but bs256, in config/config.yaml's order
    assert list(config["studies"]["batch_size"]["variants"]) == kept
    plan = make_plan(config)
    assert plan.studies["batch_size"].variants == kept
    # the other studies and their runs are as they were; a grid study is untouched
    full = make_plan(validated(read_config_files([REPO / "config/config.yaml"]), check_paths=False))
    assert [s for s in plan.studies if s != "batch_size"] == [s for s in full.studies if s != "batch_size"]
    assert plan.studies["landscape"].members == full.studies["landscape"].members
    # as Snakemake's --config hands it over (YAML's BaseLoader: the string "null")
    spelled = validated({"studies": {"s": {"variants": {"a": {}, "b": "null"}}}}, check_paths=False)
    assert list(spelled["studies"]["s"]["variants"]) == ["a"]


def test_the_readmes_example_config_does_what_its_comments_say(tmp_path):
    """README, "How to change a study": the example file merged over the full study."""
    import re

    example = re.search(r"```yaml\n(# my\.yaml.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    (tmp_path / "my.yaml").write_text(example)
    config = validated(read_config_files([REPO / "config/config.yaml", tmp_path / "my.yaml"]), check_paths=False)
    plan = make_plan(config)
    assert "landscape" not in plan.studies
    assert plan.studies["batch_size"].variants == ["bs4", "bs128", "bs128-lr0.005", "bs256-lr0.005", "bs64"]
    assert sorted({member.seed for member in plan.studies["dropout"].members}) == [0, 1, 2, 3, 4]
    assert config["execution"]["device"] == "cuda" and config["execution"]["jobs_per_gpu"] == 2


@pytest.mark.parametrize("value", [3, "big", [256]])
def test_a_variant_that_is_not_a_mapping_names_both_options(value):
    with pytest.raises(ConfigError) as raised:
        validated({"studies": {"batch_size": {"variants": {"bs4": {}, "bs256": value}}}}, check_paths=False)
    assert str(raised.value) == (
        f"config error at studies.batch_size.variants.bs256: {value!r} is not a variant: give a mapping of run "
        "keys (e.g. {batch_size: 256}) or null to remove the variant"
    )


def test_removing_every_variant_of_a_study_says_to_remove_the_study():
    with pytest.raises(ConfigError, match=r"studies\.s\.variants: null removes every variant.*`s: null`"):
        validated({"studies": {"s": {"variants": {"a": None, "b": None}}}}, check_paths=False)


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("studies:\n  s:\n    variants: {a: {epochs: 2}\n  t: 1\n", ":4:3:", "expected ',' or '}'"),
        ("defaults:\n\tepochs: 2\n", ":2:1:", "found character '\\t' that cannot start any token"),
        ("defaults: 1\n  epochs: 2\n", ":2:9:", "mapping values are not allowed here"),
    ],
)
def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path, text, where, problem):
    from ablate.plan.config import read_config_files

    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        read_config_files([REPO / "config/config.yaml", tmp_path / "bad.yaml"])
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'bad.yaml'}{where} not valid YAML: ") and problem in message, message


def test_python_m_ablate_plan_names_the_file_and_line_of_a_yaml_error(tmp_path):
    import subprocess
    import sys

    from conftest import tool_env

    (tmp_path / "bad.yaml").write_text("studies:\n  s: {variants: [1\n")
    result = subprocess.run(
        [sys.executable, "-m", "ablate", "plan", "--configfile", str(tmp_path / "bad.yaml")],
        cwd=REPO,
        env={**tool_env(), "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'bad.yaml'}:3:1: not valid YAML: "), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_snakemake_names_the_file_and_line_of_a_yaml_error_in_the_workflows_config(workflow_dir):
    """Snakemake reads --configfile files itself, before the Snakefile runs, and names neither file nor line
    (docs/config.md); the workflow's own config file the Snakefile checks with ablate's reader first."""
    with (workflow_dir / "config/config.yaml").open("a") as handle:
        handle.write("extra: {a: [1\n")
    result = snakemake(workflow_dir, "-n", "--cores", "1", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config/config.yaml:" in output and "not valid YAML: expected ',' or ']'" in output, output


def planned_variants(workflow_dir: Path, study: str, extra: str) -> list[str]:
    """The variants of `study`, in order, in the runs.csv Snakemake writes from its plan (plan.smk) of the smoke
    config with the `extra` config file's text merged over it."""
    (workflow_dir / "extra.yaml").write_text(extra)
    members = f"results/studies/{study}/runs.csv"
    result = snakemake(
        workflow_dir, members, "--cores", "1", "--configfile", "config/smoke.yaml", "extra.yaml", timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [line.split(",")[1] for line in (workflow_dir / members).read_text().splitlines()[1:]]


@pytest.mark.slow
def test_snakemake_plans_the_batch_size_variants_but_the_one_an_extra_configfile_removes(workflow_dir):
    variants = planned_variants(
        workflow_dir, "batch_size", "studies:\n  batch_size:\n    variants:\n      bs256: null\n"
    )
    assert variants == ["bs4", "bs128", "bs128-lr0.005", "bs256-lr0.005"]


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        ({"studys": {}}, "studys", "unknown key 'studys'; did you mean 'studies'? Rename or remove it"),
        ({"defaults": {"optimizer": {"momentun": 0.9}}}, "defaults.optimizer.momentun", "did you mean 'momentum'?"),
        ({"studies": {"s": {"variants": {"a": {}}, "optimzer": {}}}}, "studies.s.optimzer", "'optimizer'?"),
        ({"defaults": {"loss": "cross_entopy"}}, "defaults.loss", "did you mean 'cross_entropy'?"),
        ({"defaults": {"optimizer": {"lr": "fast"}}}, "defaults.optimizer.lr", "write a number such as 0.001"),
        ({"defaults": {"xyzzy": 1}}, "defaults.xyzzy", "unknown key 'xyzzy'. Rename or remove it; the keys allowed"),
        (
            {"studies": {"s": {"variants": {"a": {}}, "surface": {"samples": 64}}}},
            "studies.s.surface.samples",
            "'samples' was renamed 'images': write `images: 64`",
        ),
    ],
)
def test_messages_name_the_key_suggest_a_spelling_and_say_what_to_do(config, key, message):
    with pytest.raises(ConfigError) as raised:
        validated(config, check_paths=False)
    assert str(raised.value).startswith(f"config error at {key}: ") and message in str(raised.value)


def test_an_unknown_recipe_or_report_study_gets_a_suggestion():
    config = validated({"studies": {"s": {"recipe": "resnett", "variants": {"a": {}}}}, "recipes": {"resnet": {}}})
    with pytest.raises(ConfigError, match=r"studies\.s\.recipe: unknown recipe 'resnett'; did you mean 'resnet'\?"):
        make_plan(config)
    config = validated(
        {"studies": {"loss": {"variants": {"a": {}}}}, "report": {"hyperparameters": {"study": "los", "variant": "a"}}}
    )
    with pytest.raises(ConfigError, match=r"report\.hyperparameters\.study: no study 'los'; did you mean 'loss'\?"):
        make_plan(config)


def test_exponent_numbers_that_yaml_1_1_reads_as_strings_are_numbers(tmp_path):
    """PyYAML (and so Snakemake) reads `1e-3` as a string; the config takes it as the number it means."""
    from ablate.plan.config import read_config_files

    (tmp_path / "c.yaml").write_text(
        "defaults: {optimizer: {lr: 1e-3}}\n"
        "studies:\n"
        "  s:\n"
        "    title: 1e5\n"  # a string field keeps its string
        "    grid: {optimizer.lr: [1e-3, 5E-4, 2.5e+1]}\n"
        "  t:\n"
        "    variants: {a: {optimizer.weight_decay: 5e-4}}\n"
    )
    raw = read_config_files([tmp_path / "c.yaml"])
    assert raw["defaults"]["optimizer"]["lr"] == "1e-3"  # what YAML 1.1 makes of it
    config = validated(raw, check_paths=False)
    assert config["defaults"]["optimizer"]["lr"] == 0.001
    assert config["studies"]["s"]["title"] == "1e5"
    plan = make_plan(config)
    assert [plan.runs[m.run_id].config["optimizer"]["lr"] for m in plan.studies["s"].members] == [0.001, 0.0005, 25.0]
    assert plan.run_of("t", "a", 0).config["optimizer"]["weight_decay"] == 0.0005
    # the same run as the one written 0.001
    spelled = validated(
        yaml.safe_load(
            "defaults: {optimizer: {lr: 0.001}}\nstudies: {t: {variants: {a: {optimizer.weight_decay: 0.0005}}}}"
        ),
        check_paths=False,
    )
    assert make_plan(spelled).run_of("t", "a", 0).id == plan.run_of("t", "a", 0).id


def test_nested_config_values_from_the_command_line_take_their_schema_types():
    """`--config 'execution={jobs_per_gpu: 3}'` (or a profile's `config:` entry): Snakemake parses nested values
    with YAML's BaseLoader, so every one arrives as a string."""
    nested = yaml.load(
        "{jobs_per_gpu: 3, gpus: 2, gpu_memory_mb: null, compile: true, slurm_gpu_shards: 4}",
        Loader=yaml.loader.BaseLoader,
    )
    assert nested["jobs_per_gpu"] == "3"
    execution = validated({"execution": nested}, check_paths=False)["execution"]
    assert execution["jobs_per_gpu"] == 3 and execution["gpus"] == 2 and execution["slurm_gpu_shards"] == 4
    assert execution["gpu_memory_mb"] is None and execution["compile"] is True
    assert validated({"execution": {"gpus": "all"}}, check_paths=False)["execution"]["gpus"] == "all"
    with pytest.raises(ConfigError, match="jobs_per_gpu"):
        validated({"execution": {"jobs_per_gpu": "three"}}, check_paths=False)


@pytest.mark.slow
def test_snakemake_takes_1e_minus_3_as_a_number(workflow_dir):
    (workflow_dir / "lr.yaml").write_text("studies:\n  loss: {optimizer: {lr: 1e-3}}\n")
    result = snakemake(workflow_dir, "-n", "--cores", "1", "--configfile", "config/smoke.yaml", "lr.yaml", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"lr":0.001' in result.stdout or "lr" in result.stdout


@pytest.mark.slow
def test_variant_order_is_the_base_configs_whatever_an_extra_configfile_overrides(workflow_dir):
    """Snakemake merges the base config into the extra files, so an overridden variant would come first."""
    variants = planned_variants(
        workflow_dir, "dropout", "studies:\n  dropout:\n    variants:\n      p0.5: {dropout: 0.3}\n"
    )
    assert variants.index("p0") < variants.index("p0.5")
