"""The whole workflow on config/smoke.yaml in a fresh directory, then what Snakemake schedules afterwards."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import yaml

from ablate.config import read_config_files, validated
from ablate.plan import make_plan

from conftest import copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.slow
SMOKE = ("--configfile", "config/smoke.yaml")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("smoke") / "workflow")
    started = time.perf_counter()
    result = snakemake(workdir, "--cores", "all", *SMOKE, timeout=1800)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-6000:]
    print(f"\nsmoke workflow: {seconds:.0f} s on {os.cpu_count()} cores")
    return workdir


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
    # landscape and santurkar: step_loss, grad_change, beta, line_search each
    assert envelopes == 8
    assert len(images) == len(plan.studies) + envelopes + 2  # + 1.9: filters and feature maps
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "Figure 13. Loss landscape." in html and "Figure 15. beta-smoothness." in html
    assert html.count("Figure 13.") == 1  # the santurkar study's probe figures are not the original's
    assert " ± " in html  # the dropout study's two seeds: mean ± sd (n) cells
    assert 'id="interpret-interpretation"' in html and "[1×1, 16 / 3×3, 16 / 1×1, 64] × 3" in html
    assert "Table 1" in html and "Table 2." in html and "Table 3." in html
    assert "Published vs reproduced" in html and "Provenance" in html
    assert not re.search(r'(src|href)="https?:', html), "the report must not load anything from the network"
    for study in plan.studies:
        assert (smoke / f"results/studies/{study}/curves.png").stat().st_size > 10_000
    batch = (smoke / "results/studies/batch_size/summary.csv").read_text().splitlines()
    assert batch[0].startswith("variant,model,parameters,epochs,batch_size") and len(batch) == 4


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
            "study_summary": 1,
            "study_curves": 1,
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
