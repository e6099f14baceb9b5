"""The report: tables and figures from real runs, escaping of config strings, and a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_findings import vgg_study

from ablate.analysis.claims import findings_table
from ablate.analysis.figures import study_curves
from ablate.analysis.hyperparameters import write_hyperparameters
from ablate.analysis.members import StudyRuns
from ablate.analysis.published import published_comparison, write_published
from ablate.analysis.summary import write_study_summary
from ablate.plan.config import read_config_files, validated
from ablate.plan.layout import write_members
from ablate.plan.runs import make_plan
from ablate.report.render import git_state, render_report
from ablate.report.scope import departures_from_study
from ablate.training.trainer import Runtime, train_run

from conftest import CHROMIUM, REPO, chromium_page, synthetic_config

pytestmark = pytest.mark.slow  # the report of two runs trained by the module's fixture, in headless Chromium

HOSTILE = '<script>window.__injected = 1</script> & "quoted"'
# the original's numbers for study s (four rows in place in its section) and one for a study this report lacks
PUBLISHED = [
    {
        "section": "1.1",
        "quantity": f"a final accuracy {HOSTILE}",
        "source": "text",
        "value": 71,
        "unit": "%",
        "compare": {"study": "s", "variant": "a", "metric": "final_test_acc"},
    },
    {
        "section": "1.2",
        "quantity": "b best test loss",
        "source": "table 2",
        "value": 0.009,
        "scale": 256,
        "compare": {"study": "s", "variant": "b", "metric": "best_test_loss"},
    },
    {  # compared with two recipes: the one that explains it first (the batch-size study's lr, issue 17)
        "section": "1.2",
        "quantity": "best accuracy",
        "source": "table 2",
        "value": 50,
        "unit": "%",
        "compare": [
            {"study": "s", "variant": "b", "metric": "best_test_acc", "recipe": "lr 0.01, implied"},
            {"study": "s", "variant": "a", "metric": "best_test_acc", "recipe": "lr 0.001, the code's"},
        ],
    },
    {
        "section": "1.4",
        "quantity": "not in this report",
        "source": "figure 2",
        "value": 93.5,
        "unit": "%",
        "compare": {"study": "residual", "variant": "resnet18", "metric": "best_test_acc"},
    },
]


def smoke_config() -> dict:
    return validated(read_config_files([REPO / "config/config.yaml", REPO / "config/smoke.yaml"]))


# section 2.6's study: a BatchNorm run with the line search and the curvature probe, and its surface
CURVATURE_STUDY = {
    "title": "2.5 Curvature",
    "variants": {"bn": {"model": "vgg_a_bn", "epochs": 1}},
    "probes": ["line_search", "curvature"],
    "probe_every": 4,
    "curvature": {"every": 4, "max_iter": 3, "samples": 2, "density": {"steps": 6}},
    "surface": {"points": 3, "images": 32, "path_points": 3},
}


def rooted(root: Path, items: list[dict]) -> list[dict]:
    """Items of the spec (ablate.report.spec.item) with their files under `root`, their folders made."""
    for shown in items:
        (root / shown["file"]).parent.mkdir(parents=True, exist_ok=True)
    return [{**shown, "file": str(root / shown["file"])} for shown in items]


def curvature_study(root: Path, plan) -> dict:
    """Study santurkar's analyses as the workflow's rules make them, at the paths of its entry in the report's
    spec (its summary and curves, and its part of section 2.6)."""
    from ablate.analysis.curvature_figures import beta_curvature_figure, surface_figure
    from ablate.analysis.curvature_tables import beta_and_curvature, curvature_summary, surface_summary
    from ablate.analysis.density import density_figure, density_summary, study_densities
    from ablate.analysis.envelopes import probe_envelopes
    from ablate.analysis.figures import envelope_figure, save
    from ablate.analysis.run_surface import run_surface
    from ablate.exhibits import EXHIBITS
    from ablate.report.spec import _curvature, item

    study = plan.studies["santurkar"]
    folder = root / "results/studies/santurkar"
    rows = [{**m.row(), "run_dir": str(root / m.row()["run_dir"])} for m in study.members]
    write_members(rows, folder / "runs.csv")
    runs = StudyRuns.from_csv(folder / "runs.csv")
    curvature = _curvature(plan, study)
    entry = {
        "name": "santurkar",
        "title": "2.5 Curvature",
        "runs": str(folder / "runs.csv"),
        "shown": rooted(root, [item(EXHIBITS[name], "santurkar") for name in ("summary", "curves")]),
        "curvature": {**curvature, "shown": rooted(root, curvature["shown"])},
    }
    files = {shown["id"]: Path(shown["file"]) for shown in [*entry["shown"], *entry["curvature"]["shown"]]}
    write_study_summary(runs, files["summary"])
    study_curves(runs, files["curves"])
    envelope_figure(probe_envelopes(runs, "curvature"), "curvature", files["curvature_envelope"])
    save(beta_curvature_figure(beta_and_curvature(runs)), files["beta_vs_curvature"])
    curvature_summary(runs).to_csv(files["curvature_summary"], index=False)
    densities = study_densities(runs)
    density_summary(densities).to_csv(files["density_summary"], index=False)
    save(density_figure(densities), files["density"])
    grid, path = run_surface(rows[0]["run_dir"], "unused", study.surface, batch_size=64)
    grids, paths, groups = {"bn": grid}, {"bn": path}, {"bn": "vgg_a_bn"}
    surface_summary(grids, paths, groups).to_csv(files["surface_summary"], index=False)
    save(surface_figure(grids, paths, groups), files["surface"])
    return entry


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict, dict]:
    """Two tiny real runs and their study files, with hostile strings in the config: (root, config, spec)."""
    root = tmp_path_factory.mktemp("report")
    config = synthetic_config(epochs=2)
    config["studies"] = {
        "s": {"title": HOSTILE, "variants": {"a": {}, "b": {"optimizer.lr": 0.01}}},
        "santurkar": CURVATURE_STUDY,
    }
    config["report"]["title"] = HOSTILE
    config = validated(config)
    plan = make_plan(config)
    for run in plan.runs.values():
        train_run(run.train_config, root / run.dir, Runtime(threads=1), log=lambda _: None)
    study = root / "results/studies/s"
    rows = [{**m.row(), "run_dir": str(root / m.row()["run_dir"])} for m in plan.studies["s"].members]
    write_members(rows, study / "runs.csv")
    write_study_summary(StudyRuns.from_csv(study / "runs.csv"), study / "summary.csv")
    study_curves(StudyRuns.from_csv(study / "runs.csv"), study / "curves.png", title=HOSTILE)
    curvature = curvature_study(root, plan)
    hyper_dir = root / plan.run_of("s", "a", 0).dir
    write_hyperparameters(hyper_dir / "config.json", plan.member("s", "a", 0).epochs, root / "hyperparameters.csv")
    spec = {
        "title": HOSTILE,
        "config_hash": "0123456789",
        "studies": [
            {
                "name": "s",
                "title": HOSTILE,
                "runs": str(study / "runs.csv"),
                "shown": [
                    {"id": "summary", "macro": "summary", "number": "Table 2", "file": str(study / "summary.csv")},
                    {"id": "curves", "macro": "curves", "number": "", "file": str(study / "curves.png")},
                ],
            },
            curvature,
        ],
        "hyperparameters": {
            "id": "hyperparameters",
            "macro": "hyperparameters",
            "number": "Table 1",
            "file": str(root / "hyperparameters.csv"),
            "study": "s",
            "variant": "a",
            "run_dir": str(hyper_dir),
            "epochs": plan.member("s", "a", 0).epochs,
        },
        "published": str(root / "published.csv"),
        "benchmarks": [],
    }
    rises = {"vgg_a": [0.5, 0.6, 0.55], "vgg_a_dropout": [0.0, 0.05, 0.02]}  # dropout's claim holds
    findings_table({"vgg": vgg_study(root / "findings", rises)}, {}).to_csv(root / "findings.csv", index=False)
    spec["findings"] = str(root / "findings.csv")
    (root / "published.yaml").write_text(yaml.safe_dump(PUBLISHED))
    write_published(root / "published.yaml", [StudyRuns.from_csv(study / "runs.csv")], root / "published.csv")
    return root, config, spec


@pytest.fixture(scope="module")
def report(built) -> Path:
    """The report of a config that is the real study, as far as the spec says: no banner."""
    root, _, spec = built
    out = root / "report/report.html"
    render_report({**spec, "departures_from_study": []}, out)
    return out


@pytest.fixture(scope="module")
def small_report(built) -> Path:
    """The same runs, with the departures the test config really has (generated data, 0.25 width)."""
    root, config, spec = built
    out = root / "report/small.html"
    render_report({**spec, "departures_from_study": departures_from_study(config)}, out)
    return out


def test_config_strings_are_escaped(report):
    html = report.read_text()
    assert "<script>window.__injected" not in html
    assert "&lt;script&gt;window.__injected = 1&lt;/script&gt; &amp; &#34;quoted&#34;" in html


def test_tables_show_the_runs(report):
    html = report.read_text()
    assert "Table 1" in html and "Table 2." in html and "learning rate" in html
    assert html.count('<img src="data:image/png;base64,') == 2 + 4  # two studies' curves; section 2.6's four
    assert "Published vs reproduced" in html and "not in this report" in html  # every published number has a row
    assert 'id="not-the-study"' not in html and "not comparable" not in html


def test_a_config_that_is_not_the_study_says_so(small_report):
    html = small_report.read_text()
    assert 'id="not-the-study"' in html and "Not the full study:" in html
    assert "synthetic data (256 generated training images and 128 test images), models at 0.25 width" in html
    assert "Numbers are not comparable with the original" in html
    # study s's four rows, in place and in the index; the last has nothing of ours to compare
    assert html.count('<td class="not-comparable">not comparable</td>') == 4 * 2


def test_banner_facts_of_the_smoke_config():
    assert departures_from_study(smoke_config()) == [
        "synthetic data (512 generated training images and 256 test images)",
        "models at 0.125 or 0.25 width instead of the published architecture's",
        "2 epochs instead of each recipe's",
    ]


def test_the_full_study_has_no_banner():
    assert departures_from_study(validated(read_config_files([REPO / "config/config.yaml"]))) == []


def test_banner_facts_of_a_subset_and_of_some_narrow_runs():
    raw = read_config_files([REPO / "config/config.yaml"])
    raw["dataset"]["train_samples"] = 5000
    raw["studies"]["dropout"]["variants"]["p0"] = {"width": 0.5}
    raw["overrides"] = {"optimizer": {"lr": 0.01}}
    config = validated(raw)
    runs = len(make_plan(config).runs)
    assert departures_from_study(config) == [
        "a subset of the data (5,000 training images and all test images)",
        f"models at 0.5 width in 3 of {runs} runs instead of the published architecture's",
        "optimizer.lr set to 0.01 in every run",
    ]


def git(directory: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(directory), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


def test_git_state_names_the_commit_and_a_modified_tree(tmp_path):
    assert git_state(tmp_path) == "not a git checkout"
    git(tmp_path, "init", "-q")
    assert git_state(tmp_path) == "not a git checkout"  # no commit yet
    (tmp_path / "Snakefile").write_text("rule all:\n")
    git(tmp_path, "add", "Snakefile")
    git(tmp_path, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert git_state(tmp_path) == head.stdout.strip()
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    assert git_state(tmp_path) == f"{head.stdout.strip()} (modified: 1 changed or untracked file)"


def test_provenance_names_commit_versions_and_each_runs_device(report, tmp_path, built):
    html = report.read_text()
    commit = re.search(r'<code id="git-commit">([^<]*)</code>', html).group(1)
    assert re.fullmatch(r"[0-9a-f]{40}( \(modified: .*\))?|not a git checkout", commit), commit
    assert "Snakemake " in html and "PyTorch " in html and ", CUDA " in html and " hours over 3 runs" in html
    assert html.count("<tr><td><code>basic_cnn-") == 2 and html.count("<tr><td><code>vgg_a_bn-") == 1  # a row per run
    _, _, spec = built
    render_report(spec, tmp_path / "elsewhere.html", workflow=tmp_path)
    assert '<code id="git-commit">not a git checkout</code>' in (tmp_path / "elsewhere.html").read_text()


def expected_in_place(report: Path) -> list[dict]:
    """The published_comparison rows of study s, from the runs the report shows."""
    runs_csv = report.parent.parent / "results/studies/s/runs.csv"
    return [row for row in published_comparison(PUBLISHED, {"s": StudyRuns.from_csv(runs_csv)}) if row["study"] == "s"]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
@pytest.mark.parametrize("which", ["report", "small_report"])
def test_report_renders_in_headless_chromium_without_network(which, request):
    report = request.getfixturevalue(which)
    not_the_study = which == "small_report"
    requests, errors = [], []
    with chromium_page(requests, errors) as page:
        page.goto(report.as_uri(), wait_until="load")
        assert page.title() == HOSTILE
        assert page.evaluate("window.__injected") is None
        images = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth])")
        assert images and all(done and width > 500 for done, width in images)
        assert page.locator("h2").count() >= 5
        banner = page.locator("#not-the-study")
        if not_the_study:
            assert banner.is_visible() and "synthetic data" in banner.inner_text()
            assert "Numbers are not comparable" in banner.inner_text()
        else:
            assert banner.count() == 0
        # every study section holds the original's numbers for it: published, ours, difference, spread
        rows = page.locator('section[data-study="s"] table.published-in-place tr')
        expected = expected_in_place(report)
        assert rows.count() == 1 + len(expected) == 5
        for i, row in enumerate(expected, start=1):
            cells = rows.nth(i).locator("td").all_inner_texts()
            assert cells[0] == row["quantity"] and cells[2].startswith(f"{row['published']:g}")
            # the run each number is compared with, and for a number with two, which recipe explains it
            assert cells[7].startswith(f"s/{row['variant']}") and row["recipe"] in cells[7]
            explains = "explains the published number" in cells[7]
            assert explains == row["explains"] == (rows.nth(i).get_attribute("class") == "explains")
            assert cells[3].startswith(f"{row['reproduced']:.4g}")
            if not_the_study:
                assert cells[4:6] == ["—", "not comparable"]
            else:
                assert cells[4] == f"{row['difference']:+.3g}" and cells[5] == row["within"]
        assert "per sample 2.304" in rows.nth(2).inner_text()  # 0.009 x 256
        # the index links each row to its study's section (a study this report lacks: no link)
        links = page.locator("#published-table a")
        assert links.count() == 4 and {links.nth(i).get_attribute("href") for i in range(4)} == {"#study-s"}
        links.first.click()
        assert page.evaluate("location.hash") == "#study-s"
        # what the runs show, at the top: a row per claim, its verdict linked to its figure; toy data says so
        findings = page.locator("section#findings")
        assert findings.locator("h2").inner_text() == "What the runs show"
        assert findings.locator("table.findings tr").count() == 2
        verdict = findings.locator("td.verdict a")
        assert verdict.inner_text() == "holds" and verdict.get_attribute("href") == "#curves-vgg"
        assert "How a verdict is reached" in findings.locator("#findings-method").inner_text()
        assert page.locator("#findings-toy").count() == (1 if not_the_study else 0)
        # section 2.6 after the studies: its figures numbered, its tables filled, its link in the index
        section = page.locator("section#curvature")
        assert section.locator("h2").inner_text().startswith("2.6 Curvature and the 2-D landscape")
        assert section.locator("img").count() == 4
        captions = section.locator("figcaption").all_inner_texts()
        assert [c.split(".")[0] for c in captions] == ["Extra 14", "Extra 15", "Extra 16", "Extra 17"]
        assert "BatchNorm in train mode" in section.inner_text() and "eval mode" in captions[3]
        assert "On 32 training images" in captions[3]  # the surface's `images`
        assert "2 Rademacher start vectors, 6 Lanczos steps" in captions[2]
        assert section.locator("table.density-summary tr").count() > 1
        quantities = section.locator("table.curvature-summary tr td:nth-child(2)").all_inner_texts()
        assert quantities == ["λ_max", "λ_max + residual", "λ_min", "trace", "effective β"]
        shares = section.locator("table.curvature-summary tr td:nth-child(5)").all_inner_texts()
        assert all(share.endswith("%") for share in shares[:4]) and shares[4] == "—"  # the line search: no share
        assert section.locator("table.surface-summary tr").count() == 2
        page.locator('nav a[href="#curvature-curvature"]').click()
        assert section.is_visible() and page.evaluate("location.hash") == "#curvature-curvature"
        shot = report.with_suffix(".png")
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("ABLATE_SCREENSHOT_DIR"):
            target = Path(os.environ["ABLATE_SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target / shot.name)
    assert not errors
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
