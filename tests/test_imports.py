"""A train job imports what it uses: torch and the library, not the image, table, plotting or workflow packages
(each costs a smoke train job up to seconds of its wall time; bench/train_start.py measures the job's fixed cost)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from ablate.data.datasets import prepare
from ablate.plan.config import validated
from ablate.plan.runs import canonical_json, make_plan
from ablate.rundir import write_json

from conftest import REPO, synthetic_config, tool_env

# Not needed to train a run on tensors: torchvision and PIL decode images (the data job, a folder dataset);
# pandas, matplotlib, jinja2 read and draw results; jsonschema, the plan and snakemake are parse time's;
# tensorboard only where execution.tensorboard is on.
HEAVY = (
    "torchvision",
    "PIL",
    "pandas",
    "matplotlib",
    "jinja2",
    "jsonschema",
    "snakemake",
    "tensorboard",
    "ablate.plan",
    "ablate.report",
    "ablate.analysis",
)

# the train rule's entry script, run to the end in this process; then what it imported
JOB = textwrap.dedent(
    """
    import json, runpy, sys
    sys.argv = ["train.py", *sys.argv[1:]]
    runpy.run_path({script!r}, run_name="__main__")
    print(json.dumps(sorted(sys.modules)))
    """
)


def test_a_train_job_imports_no_heavy_package_it_does_not_use(tmp_path):
    config = synthetic_config(model="basic_cnn", batch_size=16)
    config["dataset"].update(train_samples=32, test_samples=16)
    run = next(iter(make_plan(validated(config, check_paths=False)).runs.values()))
    run_config = tmp_path / "run.json"
    run_config.write_text(canonical_json(run.config))
    # as the workflow runs it: on the data job's decoded arrays
    prepare(run.config["dataset"], tmp_path, download=False, folder=tmp_path / "data")
    write_json(tmp_path / "runtime.json", {"device": "cpu", "decoded_data": str(tmp_path / "data")})
    script = JOB.format(script=str(REPO / "workflow/scripts/train.py"))
    args = ["--run-config", str(run_config), "--runtime", str(tmp_path / "runtime.json"), "--epochs", "1"]
    args += ["--run-dir", str(tmp_path / run.id), "--threads", "1"]
    result = subprocess.run(
        [sys.executable, "-c", script, *args], env=tool_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / run.id / "metrics.json").exists()  # it trained, to the end
    imported = json.loads(result.stdout.splitlines()[-1])
    assert "torch" in imported
    assert [name for name in imported if name in HEAVY or name.startswith(tuple(f"{h}." for h in HEAVY))] == []
