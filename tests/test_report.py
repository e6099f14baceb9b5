"""The report: tables and figures from real runs, escaping of config strings, and a real headless browser."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ablate.analysis import write_hyperparameters, write_study_runs, write_study_summary
from ablate.config import validated
from ablate.figures import study_curves
from ablate.plan import make_plan
from ablate.report import render_report
from ablate.train import Runtime, train_run

from conftest import REPO, synthetic_config

HOSTILE = '<script>window.__injected = 1</script> & "quoted"'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """Two tiny real runs, their study files, and the report, with hostile strings in the config."""
    root = tmp_path_factory.mktemp("report")
    config = synthetic_config(epochs=2)
    config["studies"] = {
        "s": {"title": HOSTILE, "table": "Table 2", "variants": {"a": {}, "b": {"optimizer.lr": 0.01}}}
    }
    config["report"]["title"] = HOSTILE
    plan = make_plan(validated(config))
    for run in plan.runs.values():
        train_run(run.config, root / run.dir, Runtime(threads=1), log=lambda _: None)
    study = root / "results/studies/s"
    rows = [{**m.row(), "run_dir": str(root / m.row()["run_dir"])} for m in plan.studies["s"].members]
    write_study_runs(rows, study / "runs.csv")
    write_study_summary(study / "runs.csv", study / "summary.csv")
    study_curves(study / "runs.csv", study / "curves.png", title=HOSTILE)
    hyper_dir = root / plan.run_of("s", "a", 0).dir
    write_hyperparameters(hyper_dir / "config.json", root / "hyperparameters.csv")
    spec = {
        "title": HOSTILE,
        "config_hash": "0123456789",
        "studies": [
            {
                "name": "s",
                "title": HOSTILE,
                "table": "Table 2",
                "figure": "",
                "runs": str(study / "runs.csv"),
                "summary": str(study / "summary.csv"),
                "curves": str(study / "curves.png"),
            }
        ],
        "hyperparameters": {
            "table": str(root / "hyperparameters.csv"),
            "study": "s",
            "variant": "a",
            "run_dir": str(hyper_dir),
        },
        "published": str(REPO / "config/published.yaml"),
        "benchmarks": [],
    }
    out = root / "report/report.html"
    render_report(spec, out)
    return out


def test_config_strings_are_escaped(report):
    html = report.read_text()
    assert "<script>window.__injected" not in html
    assert "&lt;script&gt;window.__injected = 1&lt;/script&gt; &amp; &#34;quoted&#34;" in html


def test_tables_show_the_runs(report):
    html = report.read_text()
    assert "Table 1" in html and "Table 2." in html and "learning rate" in html
    assert html.count('<img src="data:image/png;base64,') == 1
    assert "Published vs reproduced" in html and "1.4" in html  # every published number has a row


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_report_renders_in_headless_chromium_without_network(report):
    from playwright.sync_api import sync_playwright

    requests, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.as_uri(), wait_until="load")
            assert page.title() == HOSTILE
            assert page.evaluate("window.__injected") is None
            images = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth])")
            assert images and all(done and width > 500 for done, width in images)
            assert page.locator("h2").count() >= 5
            page.screenshot(path=str(report.with_suffix(".png")), full_page=True)
        finally:
            browser.close()
    assert not errors
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
