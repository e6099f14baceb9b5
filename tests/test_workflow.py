"""The whole workflow on config/smoke.yaml in a fresh directory (the session's `smoke` fixture, conftest.py),
then what Snakemake schedules afterwards."""

from __future__ import annotations

import os
import re
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate.analysis.findings import claims
from ablate.analysis.published import read_published
from ablate.plan.config import read_config_files, validated
from ablate.plan.runs import make_plan

from conftest import CHROMIUM, SMOKE, chromium_page, job_counts, snakemake

pytestmark = pytest.mark.slow


def smoke_plan(workdir: Path):
    return make_plan(validated(read_config_files([workdir / "config/config.yaml", workdir / "config/smoke.yaml"])))


def dry_run(workdir: Path) -> dict[str, int]:
    result = snakemake(workdir, "-n", "--cores", "all", *SMOKE, timeout=120)
    assert result.returncode == 0, result.stderr
    return job_counts(result.stdout)


def test_report_holds_every_study_and_tables_1_to_3(smoke):
    html = (smoke / "report/report.html").read_text()
    plan = smoke_plan(smoke)
    for study in plan.studies.values():
        assert f'id="study-{study.name}"' in html and study.title in html
    images = re.findall(r'<img src="([^"]+)"', html)
    envelopes = sum(len(study.probes) for study in plan.studies.values())
    # landscape and santurkar: step_loss, grad_change, beta, line_search each; santurkar the curvature probe too
    assert envelopes == 9
    # + 1.9: filters and feature maps; + 2.6: santurkar's beta beside lambda_max and its Hessian density, both
    # studies' surfaces
    assert len(images) == len(plan.studies) + envelopes + 2 + 2 + 2
    section = html.split('<section class="curvature" id="curvature">')[1].split("</section>")[0]
    assert "2.6 Curvature and the 2-D landscape (beyond the original)" in section
    assert section.count("<img") == 5 and section.count('class="curvature-summary"') == 1
    assert section.count('class="density-summary"') == 1 and 'id="density-santurkar"' in section
    # landscape's surface; santurkar's curvature probe, its panel, its density and its surface
    assert [int(n) for n in re.findall(r"Extra (\d+)\. ", section)] == [13, 14, 15, 16, 17]
    # what the runs show, at the top: every claim (their studies all run in the smoke), each not established on toy data
    findings = html.split('<section id="findings">')[1].split("</section>")[0]
    assert html.index('<section id="findings">') < html.index('id="table1"') and 'id="findings-toy"' in findings
    rows = len(claims())
    assert findings.count("<tr data-claim=") == findings.count(">not established</a>") == rows
    assert findings.count("toy data; on these numbers the rules say") == rows
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "Figure 13. Loss landscape." in html and "Figure 15. beta-smoothness." in html
    assert html.count("Figure 13.") == 1  # the santurkar study's probe figures are not the original's
    assert " ± " in html  # the dropout study's two seeds: mean ± sd (n) cells
    assert 'id="interpret-interpretation"' in html and "[1×1, 8 / 3×3, 8 / 1×1, 32] × 3" in html  # width 1/8
    assert "Table 1" in html and "Table 2." in html and "Table 3." in html
    assert "Published vs reproduced" in html and "Provenance" in html
    # the banner of a config that is not the study, and the original's numbers in place: in every study
    # section that has any, and in the caption of each figure they were read off (Figures 2-6, 11-12)
    assert 'id="not-the-study"' in html and "not comparable" in html
    studies_with_numbers = {"batch_size", "residual", "resnet_depth", "loss", "activation", "optimizer", "vgg"}
    for study in studies_with_numbers:
        section = html.split(f'data-study="{study}"')[1].split("</section>")[0]
        assert 'class="published-in-place"' in section, study
    assert html.count('class="figure-published"') == len(studies_with_numbers - {"batch_size"})
    assert not re.search(r'(src|href)="https?:', html), "the report must not load anything from the network"
    for study in plan.studies:
        assert (smoke / f"results/studies/{study}/curves.png").stat().st_size > 10_000
    # published vs reproduced is the published rule's file, and the report renders that file
    published = read_published(smoke / "results/tables/published.csv")
    assert len(published) >= len(yaml.safe_load((smoke / "config/published.yaml").read_text()))
    bs4 = next(row for row in published if row["where"] == "batch_size/bs4" and row["source"] == "text")
    assert bs4["n"] == 1 and f"{bs4['reproduced']:.4g}" in html.split('id="published-table"')[1]
    batch = (smoke / "results/studies/batch_size/summary.csv").read_text().splitlines()
    assert batch[0].startswith("variant,model,parameters,epochs,batch_size") and len(batch) == 6  # 5 variants


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_the_batch_size_section_names_the_variant_each_published_number_is_compared_with(smoke):
    """In a browser: each of the original's numbers in the batch-size section names the run it is compared with;
    the two the code's lr cannot explain come first with the variant whose lr does, then with the code's."""
    requests, errors = [], []
    with chromium_page(requests, errors) as page:
        page.goto((smoke / "report/report.html").as_uri(), wait_until="load")
        rows = page.locator('section[data-study="batch_size"] table.published-in-place tr')
        compared = {}
        for i in range(1, rows.count()):
            cells = rows.nth(i).locator("td").all_inner_texts()
            compared.setdefault(cells[0], []).append((cells[7], rows.nth(i).get_attribute("class")))
    assert all(where.startswith("batch_size/") for pairs in compared.values() for where, _ in pairs)
    for quantity, implied in (
        ("Batch size 128, best accuracy (20 epochs)", "bs128-lr0.005"),
        ("Batch size 128, test accuracy after 6 epochs", "bs128-lr0.005"),
        ("Batch size 256, best accuracy (50 epochs)", "bs256-lr0.005"),
    ):
        (first, bold), (second, plain) = compared[quantity]
        assert first.startswith(f"batch_size/{implied}") and "explains the published number" in first
        assert second.startswith(f"batch_size/{implied.split('-')[0]}") and "the code's" in second
        assert (bold, plain) == ("explains", None)
    assert compared["Basic CNN test accuracy after 6 epochs"] == [("batch_size/bs4", None)]
    assert not errors and all(url.startswith(("file:", "data:")) for url in requests)


def test_curvature_residuals_density_and_finite_surfaces_in_the_smokes_files(smoke):
    """Section 2.6's files as the smoke writes them: every curvature probe row of steps.csv has both residuals
    and whether it converged, a run with the probe has density quadratures, and no surface or path holds a NaN."""
    probed = 0
    for run in (smoke / "results/runs").iterdir():
        steps = pd.read_csv(run / "steps.csv") if (run / "steps.csv").stat().st_size else pd.DataFrame()
        if "curv_lambda_max" not in steps:
            continue
        rows = steps.dropna(subset=["curv_lambda_max"])
        assert len(rows) and rows[["curv_residual_max", "curv_residual_min"]].ge(0).all().all(), run.name
        assert rows["curv_converged"].isin([0, 1]).all(), run.name
        assert len(pd.read_csv(run / "density.csv")) > 0, run.name
        probed += 1
    assert probed >= 2  # santurkar's VGG-A and VGG-A-BN
    surfaces = sorted((smoke / "results/analysis").glob("*/surface/*/epoch*/*.csv"))
    assert {path.name for path in surfaces} == {"grid.csv", "interpolation.csv"}
    for path in surfaces:
        values = pd.read_csv(path)[["loss", "accuracy"]]
        assert values.notna().all().all() and len(values), path


def test_nothing_is_scheduled_after_a_complete_run(smoke):
    assert dry_run(smoke) == {}


def test_touching_files_schedules_nothing(smoke):
    everything = [p for p in smoke.rglob("*") if p.is_file() and ".snakemake" not in p.parts]
    now = time.time()
    for path in everything:
        os.utime(path, (now, now))
    # and then every input strictly newer than every output: configs, run files, the library
    later = now + 5
    for path in everything:
        if path.suffix in (".yaml", ".py", ".smk") or path.parent.parent.name == "runs":
            os.utime(path, (later, later))
    assert dry_run(smoke) == {}


def test_editing_one_variant_reruns_exactly_that_run_and_its_readers(smoke):
    smoke_yaml = smoke / "config/smoke.yaml"
    original = smoke_yaml.read_text()
    edited = yaml.safe_load(original)
    edited["studies"]["batch_size"] = {"seeds": [0], "variants": {"bs128": {"batch_size": 64}}}
    before = set(smoke_plan(smoke).runs)
    try:
        smoke_yaml.write_text(yaml.safe_dump(edited))
        result = snakemake(smoke, "-n", "--cores", "all", *SMOKE, timeout=120)
        assert result.returncode == 0, result.stderr
        assert job_counts(result.stdout) == {
            "train": 1,
            "study_runs": 1,
            "report_spec": 1,
            "study_summary": 1,
            "study_curves": 1,
            "published": 1,  # batch_size's numbers are among the published ones
            "report": 1,
            "all": 1,
        }
        new_run = smoke_plan(smoke).run_of("batch_size", "bs128", 0).id
        assert new_run not in before
        assert f"wildcards: run={new_run}" in result.stdout
        assert "wildcards: study=batch_size" in result.stdout
    finally:
        smoke_yaml.write_text(original)
    assert dry_run(smoke) == {}


def test_an_edit_that_resolves_to_the_same_runs_reruns_nothing(smoke):
    """lr: 1 for lr: 1.0, 1e-3 for 0.001, and a setting the chosen optimizer never reads (Adam's momentum)."""
    smoke_yaml = smoke / "config/smoke.yaml"
    original = smoke_yaml.read_text()
    before = smoke_plan(smoke)
    edited = yaml.safe_load(original)
    edited["studies"]["optimizer"]["variants"] = {"adadelta-lr1.0": {"optimizer.lr": 1}}
    edited["studies"]["vgg"]["optimizer"] = {"momentum": 0.5}
    try:
        smoke_yaml.write_text(yaml.safe_dump(edited) + "recipes: {vgg: {optimizer: {lr: 1e-3}}}\n")
        after = smoke_plan(smoke)
        assert after.runs.keys() == before.runs.keys()
        assert dry_run(smoke) == {}
    finally:
        smoke_yaml.write_text(original)


def test_snakemakes_own_report(smoke):
    """`snakemake --report`: the outputs marked report() with their captions, as snakemake-workflows do."""
    result = snakemake(smoke, "--report", "report/snakemake-report.zip", *SMOKE, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(smoke / "report/snakemake-report.zip") as archive:
        names = archive.namelist()
        index = archive.read("snakemake-report/report.html").decode()
    files = [Path(name).name for name in names if name.startswith("snakemake-report/data/raw/")]
    plan = smoke_plan(smoke)
    assert files.count("curves.png") == files.count("summary.csv") == len(plan.studies)
    # per study with the curvature probe and a surface
    section_26 = ("beta-vs-curvature.png", "hessian-density.png", "figure.png")
    assert sorted(
        f
        for f in files
        if f.endswith(".png") and f not in ("curves.png", "filters.png", "feature_maps.png", *section_26)
    ) == sorted(f"{probe}.png" for study in plan.studies.values() for probe in study.probes)
    assert files.count("beta-vs-curvature.png") == files.count("hessian-density.png") == 1
    assert files.count("figure.png") == 2
    assert {"report.html", "hyperparameters.csv", "architecture.csv", "filters.png", "feature_maps.png"} <= set(files)
    # the captions (workflow/report/*.rst), with the study's name filled in
    assert "train and test loss and accuracy per epoch" in index and "landscape" in index
