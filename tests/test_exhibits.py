"""What the report shows, declared once (ablate/exhibits.yaml): every entry complete, the rules' report captions
and the report's spec derived from it, and a new figure added by its entry and its function alone."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import yaml

from ablate import registry
from ablate.exhibits import (
    EXHIBITS,
    GENERIC_FILE,
    READS,
    WHENS,
    Exhibit,
    load_exhibits,
    probe_exhibit,
    write_captions,
)
from ablate.plan.config import read_config_files, validated
from ablate.plan.runs import make_plan
from ablate.report.spec import WHEN, curvature_probes, item, report_spec, shown_items, spec_paths

from conftest import REPO, copy_workflow, snakemake

NUMBER = re.compile(r"(Figures?|Table|Extra) \d+((–| and )\d+)?")


def full_plan():
    return make_plan(validated(read_config_files([REPO / "config/config.yaml"])))


def test_exhibits_are_complete():
    studies = set(full_plan().studies)
    for name, exhibit in EXHIBITS.items():
        assert exhibit.macro, name
        assert exhibit.rule in {*re.findall(r"rule (\w+):", _rules_text())}, name  # a rule of the workflow
        numbers = (
            exhibit.numbers.values()
            if not exhibit.per_probe
            else [n for by in exhibit.numbers.values() for n in by.values()]
        )
        assert all(NUMBER.fullmatch(n) for n in [*numbers, *filter(None, [exhibit.number])]), name
        assert set(exhibit.numbers) <= studies, name  # numbered in a study of config/config.yaml
        assert not exhibit.per_study or not exhibit.number, name  # a study's exhibit is numbered per study
    for probe in registry.PROBES.values():  # what the original showed belongs to a figure of the original
        shown = probe_exhibit(probe.name)
        numbers = [by.get(probe.name, "") for by in shown.numbers.values()]
        assert not probe.published or any(n.startswith("Figure ") for n in numbers), probe.name


def test_each_exhibits_macro_and_condition_exist():
    macros = set(re.findall(r"\{% macro (\w+)\(", (REPO / "src/ablate/report/templates/exhibits.html.j2").read_text()))
    page = ("findings", "published")  # sections report.html.j2 shows itself
    assert {exhibit.macro for exhibit in EXHIBITS.values() if exhibit.section not in page} <= macros
    assert set(WHEN) == set(WHENS)


def test_a_misspelt_or_incomplete_entry_fails_to_load():
    with pytest.raises(TypeError, match="captoin"):
        load_exhibits({"x": {"kind": "figure", "section": "study", "file": "x.png", "rule": "x", "captoin": "x"}})
    with pytest.raises(ValueError, match="section"):
        load_exhibits({"x": {"kind": "figure", "section": "appendix", "file": "x.png", "rule": "x"}})
    with pytest.raises(ValueError, match="generic"):
        load_exhibits({"x": {"kind": "table", "section": "study", "function": "m:f", "reads": ["config"]}})


def test_a_generic_figure_is_drawn_by_the_rule_exhibit():
    toy = load_exhibits({"toy": {"kind": "figure", "section": "study", "function": "m:f", "reads": ["metrics"]}})
    assert toy["toy"].rule == "exhibit" and toy["toy"].file == GENERIC_FILE.replace("{exhibit}", "toy")
    assert set(READS) == {"config", "history", "metrics", "steps"}


def _rules_text() -> str:
    return "".join(path.read_text() for path in sorted((REPO / "workflow/rules").glob("*.smk")))


def test_the_rules_captions_are_the_registrys():
    """Every output a rule marks for Snakemake's report is an exhibit's (`shown`), but the report's own page."""
    rules = _rules_text()
    assert re.findall(r'caption="([^"]+)"', rules) == ["../report/report.rst"]
    assert set(re.findall(r'shown\("(\w+)"\)', rules)) == {e.name for e in EXHIBITS.values() if e.caption}


def test_captions_are_written_with_their_numbers(tmp_path):
    paths = write_captions(tmp_path)
    assert Path(paths["hyperparameters"]).read_text().startswith("Table 1: the hyperparameters")
    assert Path(paths["feature_maps"]).read_text().startswith("Figures 9–10: one test image")
    assert "{{ snakemake.wildcards.study }}" in Path(paths["curves"]).read_text()
    before = Path(paths["curves"]).stat().st_mtime_ns
    write_captions(tmp_path)
    assert Path(paths["curves"]).stat().st_mtime_ns == before  # unchanged: not rewritten


def test_the_spec_shows_each_study_its_exhibits_in_the_registrys_order():
    config = validated(read_config_files([REPO / "config/config.yaml"]))
    plan = make_plan(config)
    spec = report_spec(plan, config)
    santurkar = next(s for s in spec["studies"] if s["name"] == "santurkar")
    assert [(i["id"], i.get("probe")) for i in santurkar["shown"]] == [
        ("summary", None),
        ("curves", None),
        *[("envelope", p) for p in ("step_loss", "grad_change", "beta", "line_search")],
    ]
    assert [i["id"] for i in santurkar["curvature"]["shown"]] == [
        "curvature_summary",
        "curvature_envelope",
        "beta_vs_curvature",
        "density",
        "density_summary",
        "surface",
        "surface_summary",
    ]
    assert curvature_probes(plan.studies["landscape"]) == ["curvature"]
    assert set(spec_paths(spec)) >= {i["file"] for i in shown_items(spec)}
    assert next(s for s in spec["studies"] if s["name"] == "dropout")["curvature"] is None


def test_an_item_is_numbered_in_its_study():
    assert item(EXHIBITS["curves"], "vgg")["number"] == "Figures 11 and 12"
    assert item(EXHIBITS["envelope"], "landscape", "beta")["number"] == "Figure 15"
    assert item(EXHIBITS["envelope"], "not_numbered", "beta")["number"] == ""
    assert item(EXHIBITS["architecture"])["number"] == "Figure 8"
    assert isinstance(EXHIBITS["surface"], Exhibit) and EXHIBITS["surface"].report_labels()["study"] == "{study}"


# Task: a figure is its analysis function and its entry. The toy final_accuracy, one bar per member, added to a
# copy of the workflow:
FINAL_ACCURACY_FUNCTION = '''

def final_accuracy(runs, out: Path, title: str = "") -> None:
    """Each member's final test accuracy, one bar per member."""
    from ablate.analysis.members import member_results

    results = member_results(runs)
    fig, ax = plt.subplots()
    ax.bar([f"{v} ({s})" for v, s in zip(results["variant"], results["seed"])], results["final_test_acc"])
    ax.set_title(title)
    save(fig, out)
'''
FINAL_ACCURACY_ENTRY = """  final_accuracy:
    kind: figure
    section: study
    function: "ablate.analysis.figures:final_accuracy"
    reads: [config, history, metrics]
    numbers: {dropout: Extra 99}
    caption: Final test accuracy of each member, one bar each.
    category: 2. Studies
"""
# config/smoke.yaml's dropout study alone
DROPOUT_STUDY = {
    "report": {
        "hyperparameters": {"study": "dropout", "variant": "p0"},
        "filters": None,  # section 1.9 reads ResNet runs, which this config does not train
        "feature_maps": None,
    },
    "studies": {  # every other study of config/config.yaml: null
        name: None for name in yaml.safe_load((REPO / "config/config.yaml").read_text())["studies"] if name != "dropout"
    },
}


@pytest.mark.slow
def test_a_new_figure_needs_only_its_function_and_its_entry(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    with (workdir / "src/ablate/analysis/figures.py").open("a") as handle:
        handle.write(FINAL_ACCURACY_FUNCTION)
    with (workdir / "src/ablate/exhibits.yaml").open("a") as handle:
        handle.write(FINAL_ACCURACY_ENTRY)
    (workdir / "dropout.yaml").write_text(yaml.safe_dump(DROPOUT_STUDY))

    result = snakemake(workdir, "--cores", "2", "--configfile", "config/smoke.yaml", "dropout.yaml")
    assert result.returncode == 0, result.stderr[-5000:]
    figure = workdir / "results/analysis/dropout/exhibit-final_accuracy.png"
    assert figure.stat().st_size > 5_000
    html = (workdir / "report/report.html").read_text()
    section = html[html.index('data-study="dropout"') :]
    section = section[: section.index("</section>")]
    # in its study's section, after the entries before it in exhibits.yaml, with its number and caption
    assert section.index('id="curves-dropout"') < section.index('id="dropout-final_accuracy"')
    assert "Extra 99. Final test accuracy of each member, one bar each." in section
    caption = (workdir / "results/report/captions/exhibit.rst").read_text()
    assert 'snakemake.wildcards.exhibit == "final_accuracy"' in caption and "one bar each" in caption
    # Snakemake's own report holds it with that caption
    result = snakemake(
        workdir, "--report", "report/snakemake-report.zip", "--configfile", "config/smoke.yaml", "dropout.yaml"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(workdir / "report/snakemake-report.zip") as archive:
        index = archive.read("snakemake-report/report.html").decode()
    assert "Final test accuracy of each member" in index
