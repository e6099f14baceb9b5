"""The registry (src/ablate/registry.yaml): every entry complete, the schema's enums its names, parse time free of
torch; and a new probe needs nothing but its function and its entry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from ablate import datasources as sources
from ablate import registry
from ablate.errors import ConfigError
from ablate.plan.config import validated
from ablate.plan.schema import SCHEMA_PATH, run_defaults, schema
from ablate.references import import_reference
from ablate.training import components
from ablate.training.models import build_model
from ablate.training.probes import ProbeRecorder

from conftest import REPO, copy_workflow, snakemake, synthetic_config


def _markers(node, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, kind) of every `registry: <kind>` in the schema as written."""
    if isinstance(node, dict):
        if "registry" in node:
            yield path, node["registry"]
        for key, value in node.items():
            yield from _markers(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _markers(value, (*path, index))


def _enums(node) -> Iterator[list]:
    if isinstance(node, dict):
        if "enum" in node:
            yield node["enum"]
        for value in node.values():
            yield from _enums(value)
    elif isinstance(node, list):
        for value in node:
            yield from _enums(value)


def test_the_schemas_enums_are_the_registrys_names():
    written = yaml.safe_load(SCHEMA_PATH.read_text())
    markers = list(_markers(written))
    assert sorted(kind for _, kind in markers) == sorted(registry.KINDS)  # every kind, once
    loaded = schema()
    for path, kind in markers:
        node = loaded
        for part in path:
            node = node[part]
        assert node["enum"] == list(registry.KINDS[kind]), kind
        assert "registry" not in node
    # no name list of a kind is written into the schema by hand
    names = {name for entries in registry.KINDS.values() for name in entries}
    assert not [enum for enum in _enums(written) if names & set(map(str, enum))]


def test_every_function_resolves():
    for kind, entries in registry.KINDS.items():
        for name, entry in entries.items():
            if kind == "inits" and entry.function is None:
                continue  # the layers' own initialisation
            if kind == "datasets":
                continue  # the source's loader (test_datasets_are_complete)
            assert entry.function, (kind, name)
            assert callable(entry.load()), (kind, name)


def test_models_are_complete():
    schema_run = schema()["$defs"]["run"]["properties"]
    assert "dropout" in schema_run
    for name, model in registry.MODELS.items():
        assert model.family, name
        assert len(model.footprint) == 3 and all(isinstance(n, int) and n > 0 for n in model.footprint), name
        assert 0 <= model.dropout < 1, name
    assert registry.family("resnet") == ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def test_datasets_are_complete():
    """The plan, the data check, the banner and the loaders go by a dataset's entry and its source object
    (ablate.datasources), never by its name or its source's kind."""
    assert [name for name, entry in registry.DATASETS.items() if entry.study] == ["cifar10"]
    for entry in registry.DATASETS.values():
        assert entry.description and entry.function is None, entry.name  # the source loads
        assert isinstance(entry.source, tuple(sources.SOURCES.values())), entry.name
        assert callable(import_reference(entry.source.function)), entry.name
        if isinstance(entry.source, sources.Download):
            assert entry.source.archive and entry.source.extracted, entry.name
        if isinstance(entry.source, sources.Folder):
            assert callable(import_reference(entry.source.sizes)), entry.name
    with pytest.raises(TypeError, match="archiv"):  # a source's misspelt field fails on import
        registry.dataset_entries({"d": {"source": "download", "function": "m:f", "archiv": "a", "extracted": "e"}})
    modules = list((REPO / "src/ablate").rglob("*.py"))
    named = [path.name for path in modules if re.search(r"== \"(cifar10|image_folder|synthetic)\"", path.read_text())]
    assert not named, f"branching on a dataset's name in {named}"
    # the source kinds are told apart in ablate.datasources only
    kinds = "|".join(sources.SOURCES)
    branching = [path.name for path in modules if re.search(rf"source\b.*== \"({kinds})\"", path.read_text())]
    assert not branching, f"branching on a dataset's source kind in {branching}"


def test_components_build_with_the_keys_they_declare():
    properties = schema()["$defs"]
    defaults = validated({}, check_paths=False)["defaults"]
    for name, entry in registry.OPTIMIZERS.items():
        assert set(entry.keys) <= set(properties["optimizer"]["properties"]), name
        optimizer = components.optimizer([nn.Parameter(torch.zeros(3))], {**defaults["optimizer"], "name": name})
        assert isinstance(optimizer, torch.optim.Optimizer)
    for name, entry in registry.SCHEDULERS.items():
        assert set(entry.keys) <= set(properties["scheduler"]["properties"]), name
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        scheduler = components.scheduler(optimizer, {**defaults["scheduler"], "name": name}, epochs=3)
        optimizer.step()
        scheduler.step(1.0)
        scheduler.load_state_dict(scheduler.state_dict())
    for name in registry.ACTIVATIONS:
        assert isinstance(components.activation(name), nn.Module), name
    for name in registry.INITS:
        assert build_model("basic_cnn", width=0.25, init=name) is not None, name


def test_probes_are_complete():
    run_keys = set(schema()["$defs"]["run"]["properties"])
    columns = [column for probe in registry.PROBES.values() for column in probe.columns]
    assert len(columns) == len(set(columns)) and not {"epoch", "step"} & set(columns)  # steps.csv's are unique
    for name, probe in registry.PROBES.items():
        assert probe.columns and probe.title and probe.caption, name
        assert probe.band in ("group", "variant"), name
        assert all(low in probe.columns and high in probe.columns for low, high in probe.series.values()), name
        assert set(probe.settings) <= run_keys, name
        assert all("default" in setting for setting in probe.settings.values()), name  # the schema's only default
        assert not probe.every or probe.every.split(".")[0] in probe.settings, name


def test_an_entry_with_an_unknown_or_misspelt_field_fails_to_load():
    with pytest.raises(TypeError, match="colums"):
        registry.entries(registry.Probe, {"p": {"function": "m:f", "colums": ["p"]}})


def every_step(probe: str) -> dict:
    """The run keys that make `probe` run at every step (its `every` setting at 1)."""
    every = registry.PROBES[probe].every
    if not every:
        return {}
    key, _, nested = every.partition(".")
    return {key: {**run_defaults()[key], nested: 1}} if nested else {key: 1}


@pytest.mark.parametrize("name", list(registry.PROBES))
def test_each_probe_writes_its_columns_and_leaves_the_run_as_it_found_it(name):
    torch.manual_seed(0)
    model = build_model("basic_cnn", width=0.25)
    optimizer = components.optimizer(model.parameters(), {"name": "sgd", "lr": 0.01, "momentum": 0.9})
    images, labels = torch.randn(8, 3, 32, 32), torch.arange(8)
    recorder = ProbeRecorder(model, optimizer, {**run_defaults(), "probes": [name], **every_step(name)})

    def loss_at() -> torch.Tensor:
        return nn.functional.cross_entropy(model(images), labels)

    for step in (1, 2):
        optimizer.zero_grad()
        loss = loss_at()
        loss.backward()
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        grads = [p.grad.clone() for p in model.parameters()]
        rng = torch.get_rng_state()
        recorder.after_backward(1, step, loss, loss_at)
        assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
        assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))
        assert torch.equal(torch.get_rng_state(), rng)
        optimizer.step()
    recorder.flush()
    assert [list(row) for row in recorder.rows] == [["epoch", "step", *registry.PROBES[name].columns]] * 2


def test_parse_time_imports_no_torch():
    code = (
        "import sys; import ablate.registry, ablate.exhibits, ablate.plan.config, ablate.plan.runs, "
        "ablate.report.spec; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# Task: a probe is its function and its entry, its settings included. The toy weight_norm, with two settings
# (the norm's order, and every how many steps it runs), added to a copy of the workflow:
WEIGHT_NORM_FUNCTION = '''

def weight_norm(recorder: ProbeRecorder, loss: torch.Tensor, loss_at: Callable[[], torch.Tensor], settings) -> dict:
    """The norm of all the model's weights, of the order its settings say."""
    flat = torch.cat([p.detach().flatten() for p in recorder.model.parameters()])
    return {"weight_norm": torch.linalg.vector_norm(flat, ord=settings["weight_norm"]["order"])}
'''
WEIGHT_NORM_ENTRY = """  weight_norm:
    function: "ablate.training.probes:weight_norm"
    columns: [weight_norm]
    every: weight_norm.every
    settings:
      weight_norm:
        type: object
        additionalProperties: false
        default: {}
        properties:
          order: {type: number, exclusiveMinimum: 0, default: 2.0}
          every: {type: integer, minimum: 1, default: 1}
    title: "Weight norm: ||w_t|| of all weights"
    y_label: weight norm
    caption: Weight norm. The norm of all the model's weights per step; band over each model's runs.
"""
# config/smoke.yaml's landscape study alone, on fewer images and learning rates, recording weight_norm only
WEIGHT_NORM_STUDY = {
    "dataset": {"train_samples": 256, "test_samples": 128},
    "report": {
        "hyperparameters": {"study": "landscape", "variant": "vgg_a-lr0.001"},
        "filters": None,  # section 1.9 reads ResNet runs, which this config does not train
        "feature_maps": None,
    },
    "studies": {
        "landscape": {
            "probes": ["weight_norm"],
            "weight_norm": {"order": 1, "every": 2},
            "grid": {"optimizer.lr": [0.001, 0.002]},
        },
        **dict.fromkeys(
            ("batch_size", "dropout", "residual", "resnet_depth", "loss", "activation", "optimizer", "vgg", "santurkar")
        ),
    },
}


@pytest.mark.slow
def test_a_new_probe_with_settings_needs_only_its_function_and_its_registry_entry(tmp_path):
    with pytest.raises(ConfigError, match="weight_norm"):
        validated(synthetic_config(probes=["weight_norm"]), check_paths=False)
    workdir = copy_workflow(tmp_path / "workflow")
    with (workdir / "src/ablate/training/probes.py").open("a") as handle:
        handle.write(WEIGHT_NORM_FUNCTION)
    with (workdir / "src/ablate/registry.yaml").open("a") as handle:
        handle.write(WEIGHT_NORM_ENTRY)
    (workdir / "weight_norm.yaml").write_text(yaml.safe_dump(WEIGHT_NORM_STUDY))

    # the schema takes the setting and its default from the entry, and checks values against it
    accepts = (
        "from ablate.errors import ConfigError; from ablate.plan.config import validated\n"
        "config = validated({'defaults': {'probes': ['weight_norm']}}, False)\n"
        "assert config['defaults']['weight_norm'] == {'order': 2.0, 'every': 1}, config['defaults']\n"
        "try:\n    validated({'defaults': {'probes': ['weight_norm'], 'weight_norm': {'order': -1}}}, False)\n"
        "except ConfigError as error:\n    assert 'weight_norm.order' in str(error), error\n"
        "else:\n    raise AssertionError('order -1 accepted')"
    )
    env = {"PYTHONPATH": str(workdir / "src"), "PATH": str(Path(sys.executable).parent)}
    subprocess.run([sys.executable, "-c", accepts], cwd=workdir, env=env, check=True)

    result = snakemake(workdir, "--cores", "2", "--configfile", "config/smoke.yaml", "weight_norm.yaml")
    assert result.returncode == 0, result.stderr[-5000:]
    runs = sorted((workdir / "results/runs").glob("vgg_a*"))
    assert len(runs) == 4  # two models, two learning rates
    for run in runs:
        steps = pd.read_csv(run / "steps.csv")
        assert list(steps.columns) == ["epoch", "step", "weight_norm"], run
        recorded = steps["weight_norm"].notna()
        assert (recorded == (steps["step"] % 2 == 0)).all(), run  # every 2 steps (of 4), as its setting says
        norms = steps.loc[recorded, "weight_norm"]
        assert norms.gt(0).all() and norms.nunique() > 1, run
        config = json.loads((run / "config.json").read_text())
        assert config["weight_norm"] == {"order": 1.0, "every": 2}, run  # part of the run, and so of its identity
    analysis = workdir / "results/analysis/landscape"
    assert (analysis / "weight_norm.png").stat().st_size > 10_000
    table = pd.read_csv(analysis / "weight_norm.csv")
    assert set(table["group"]) == {"vgg_a", "vgg_a_bn"} and (table["runs"] == 2).all()
    html = (workdir / "report/report.html").read_text()
    assert 'alt="Probe weight_norm per step for study landscape"' in html
    assert "Weight norm. The norm of all the model&#39;s weights per step" in html


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_each_optimizers_state_size_is_what_torch_keeps(name):
    """registry.yaml's `state` and `momentum_state` (the checkpoint's size estimate) against torch.optim's state
    after one step, with and without momentum where the optimizer takes one."""
    entry = registry.OPTIMIZERS[name]
    for momentum in (0.0, 0.9) if "momentum" in entry.keys else (0.0,):
        weight = nn.Parameter(torch.ones(7, 3))
        optimizer = entry.load()([weight], lr=0.1, **({"momentum": momentum} if momentum else {}))
        weight.grad = torch.ones_like(weight)
        optimizer.step()
        kept = [v for v in optimizer.state[weight].values() if isinstance(v, torch.Tensor) and v.shape == weight.shape]
        assert len(kept) == entry.state_tensors({"name": name, "momentum": momentum}), (name, momentum)
