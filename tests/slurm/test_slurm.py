"""The workflow through a real one-node SLURM cluster (tests/slurm/cluster.sh): `pytest -m slurm`, as root.

Every snakemake here uses `--profile workflow/profiles/slurm` with three test overrides: the cluster's
partition and account (the profile holds placeholders), and a first status check after 1 s instead of
40 s. Shown: the workflow (two studies of the smoke config) ends with the numbers of a local run; the
plugin's status checks go through accounting (sacct) and never fail or fall back; after a complete run,
a changed variant submits exactly one train job and its readers; a scancelled train job resumes from
its checkpoint when the workflow is rerun.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from interrupt import RESULT_COLUMNS, RESUME, history, kill_group, resume_run_dir, start, wait_for_file

from ablate.execution.memory import train_memory_mb
from ablate.plan.config import read_config_files, validated
from ablate.plan.runs import make_plan

from conftest import REPO, copy_workflow, tool_env

pytestmark = [pytest.mark.slurm, pytest.mark.slow]  # a one-node cluster, started by the session fixture

CLUSTER = Path(__file__).with_name("cluster.sh")
PROFILE = "workflow/profiles/slurm"
REDUCED = ("--configfile", "config/smoke.yaml", "tests/slurm/reduced.yaml")
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_([A-Za-z0-9_]+)/")
METRICS = ("epochs_completed", "final_test_acc", "final_test_loss", "final_train_loss", "best_test_acc",
           "best_epoch", "best_test_loss", "parameters", "diverged")  # fmt: skip


@pytest.fixture(scope="session")
def cluster():
    """A running cluster for the whole session, stopped at its end whatever happened; yields its env."""
    if os.geteuid() != 0:
        pytest.fail("the SLURM tests start a cluster and need root (tests/slurm/README.md)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.fail("the SLURM executor is missing: pip install -e '.[slurm]'")
    subprocess.run(["bash", CLUSTER, "install"], check=True, timeout=900)  # no-op when installed
    # short: socket paths below it must fit in 108 bytes
    directory = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
    try:
        started = time.perf_counter()
        subprocess.run(["bash", CLUSTER, "start", directory], check=True, timeout=300)
        print(f"\ncluster start: {time.perf_counter() - started:.1f} s")
        sourced = subprocess.run(
            ["bash", "-c", f"source {directory}/env.sh && env -0"], check=True, capture_output=True, timeout=30
        ).stdout.decode()
        env = tool_env()
        env.update(line.split("=", 1) for line in sourced.split("\0") if line.startswith("SLURM_"))
        yield env
    finally:
        subprocess.run(["bash", CLUSTER, "stop", directory], timeout=120)
        shutil.rmtree(directory, ignore_errors=True)


def slurm_args(env: dict[str, str]) -> list[str]:
    """The profile, with the test cluster's partition and account (the rest of default-resources as is)."""
    resources = yaml.safe_load((REPO / PROFILE / "config.yaml").read_text())["default-resources"]
    resources.update(slurm_partition=env["SLURM_TEST_PARTITION"], slurm_account=env["SLURM_TEST_ACCOUNT"])
    return [
        "--profile",
        PROFILE,
        "--default-resources",
        *(f"{key}={value}" for key, value in resources.items()),
        "--slurm-init-seconds-before-status-checks",
        "1",
    ]


def local_env() -> dict[str, str]:
    # no SLURM for local runs (SLURM_CONF=/dev/null also spares the plugin's `scontrol` probe)
    return {**tool_env(), "SLURM_CONF": "/dev/null"}


def run(workdir: Path, args: list[str], env: dict[str, str], log: Path, timeout: float) -> tuple[int, str]:
    process = start(workdir, args, env, log)
    try:
        process.wait(timeout=timeout)
    finally:
        kill_group(process)
    return process.returncode, log.read_text()


def submitted(output: str) -> dict[str, str]:
    """{SLURM job id: rule} of every job a snakemake run submitted."""
    return dict(SUBMITTED.findall(output))


def sacct(env: dict[str, str], *job_ids: str) -> dict[str, tuple[str, str]]:
    """{job id: (state, account)} from the accounting database: the given jobs, or every job."""
    select = ["-j", ",".join(job_ids)] if job_ids else ["-S", "2020-01-01"]
    out = subprocess.run(
        ["sacct", "-a", "-X", "-n", "-P", "-o", "JobIDRaw,State,Account", *select],
        env=env, check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    return {job: (state, account) for job, state, account in (line.split("|") for line in out.splitlines())}


def job_processes(job: str) -> list[int]:
    """Processes of a SLURM job that are still alive (read from their environment)."""
    alive = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"\0SLURM_JOB_ID={job}\0" in "\0" + environ.read_text(errors="replace"):
                alive.append(int(environ.parent.name))
        except OSError:
            continue  # gone meanwhile
    return alive


def reduced_plan(workdir: Path):
    files = ["config/config.yaml", "config/smoke.yaml", "tests/slurm/reduced.yaml"]
    return make_plan(validated(read_config_files([workdir / f for f in files]), check_paths=False))


@dataclass
class Runs:
    slurm: Path
    local: Path
    output: str  # of the SLURM run

    def __iter__(self):
        return iter((self.slurm, self.local))


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory) -> Runs:
    """The reduced smoke workflow through SLURM and, at the same time, locally in another directory."""
    top = tmp_path_factory.mktemp("e2e")
    slurm, local = copy_workflow(top / "slurm"), copy_workflow(top / "local")
    reference = start(local, ["--cores", "2", *REDUCED], local_env(), top / "local.txt")
    try:
        started = time.perf_counter()
        # --verbose: the plugin then logs every status check (command, failed attempts)
        code, output = run(slurm, [*slurm_args(cluster), "--verbose", *REDUCED], cluster, top / "slurm.txt", 600)
        print(f"\nSLURM run of the reduced smoke workflow: {time.perf_counter() - started:.0f} s")
        assert code == 0, output[-8000:]
        assert reference.wait(timeout=600) == 0, (top / "local.txt").read_text()[-6000:]
    finally:
        kill_group(reference)
    return Runs(slurm, local, output)


def test_slurm_run_ends_with_the_numbers_of_a_local_run(runs):
    plan = reduced_plan(runs.slurm)
    assert Counter(submitted(runs.output).values()) == {
        "train": len(plan.runs), "study_summary": 2, "study_curves": 2, "hyperparameters": 1, "published": 1,
        "findings": 1, "report": 1,
    }  # fmt: skip
    for run in plan.runs.values():
        for name in ("config.json", "steps.csv"):
            assert (runs.slurm / run.dir / name).read_bytes() == (runs.local / run.dir / name).read_bytes()
        pd.testing.assert_frame_equal(history(runs.slurm, run.dir), history(runs.local, run.dir), check_exact=True)
        slurm_metrics, local_metrics = (json.loads((top / run.dir / "metrics.json").read_text()) for top in runs)
        assert {k: slurm_metrics[k] for k in METRICS} == {k: local_metrics[k] for k in METRICS}
    for study in plan.studies:
        path = f"results/studies/{study}"
        assert (runs.slurm / path / "runs.csv").read_bytes() == (runs.local / path / "runs.csv").read_bytes()
        timings = [f"{c}{s}" for c in ("seconds_per_epoch", "images_per_second") for s in ("", "_sd")]
        summaries = [pd.read_csv(top / path / "summary.csv").drop(columns=timings) for top in runs]
        pd.testing.assert_frame_equal(*summaries, check_exact=True)
    tables = "results/tables/hyperparameters.csv"
    assert (runs.slurm / tables).read_bytes() == (runs.local / tables).read_bytes()
    for top in runs:
        assert (top / "report/report.html").stat().st_size > 10_000


def test_status_checks_go_through_accounting(runs, cluster):
    cycle = r"Status query timing \(cycle\): command=(\w+), attempts=\d+, failed_attempts=(\d+)"
    checks = re.findall(cycle, runs.output)
    assert len(checks) >= 3 and set(checks) == {("sacct", "0")}, checks
    assert re.search(r"Status query timing summary at shutdown: calls=\d+, failures=0,", runs.output)
    # what the plugin logs when sacct fails, is missing, loses jobs, or when it has to guess the account
    for sign in ("Falling back", "unavailable", "not available", "Unable to get the status",
                 "could not check status", "No SLURM account given", "guess"):  # fmt: skip
        assert sign not in runs.output, sign
    jobs = submitted(runs.output)
    assert sacct(cluster, *jobs) == dict.fromkeys(jobs, ("COMPLETED", cluster["SLURM_TEST_ACCOUNT"]))


def test_a_changed_variant_submits_one_train_job_and_its_readers(runs, cluster):
    reduced = runs.slurm / "tests/slurm/reduced.yaml"
    config = yaml.safe_load(reduced.read_text())
    config["studies"]["batch_size"]["variants"]["bs128"] = {"batch_size": 64}
    reduced.write_text(yaml.safe_dump(config))
    before = set(sacct(cluster))
    started = time.perf_counter()
    code, output = run(runs.slurm, [*slurm_args(cluster), *REDUCED], cluster, runs.slurm.parent / "changed.txt", 600)
    print(f"\nSLURM rerun after a changed variant: {time.perf_counter() - started:.0f} s")
    assert code == 0, output[-8000:]
    jobs = submitted(output)
    # study_runs is a local rule: it reruns on the submitting machine
    changed = {"train": 1, "study_summary": 1, "study_curves": 1, "published": 1, "report": 1}
    assert Counter(jobs.values()) == changed, output[-6000:]
    assert set(sacct(cluster)) - before == set(jobs)
    new_run = reduced_plan(runs.slurm).run_of("batch_size", "bs128", 0)
    assert json.loads((runs.slurm / new_run.dir / "config.json").read_text())["batch_size"] == 64


def test_a_scancelled_train_job_resumes_from_its_checkpoint_on_rerun(cluster, tmp_path):
    run_dir = resume_run_dir()
    target = f"{run_dir}/metrics.json"
    slurm, local = copy_workflow(tmp_path / "slurm"), copy_workflow(tmp_path / "local")
    reference = start(local, [target, "--cores", "1", *RESUME], local_env(), tmp_path / "local.txt")
    first = start(slurm, [target, *slurm_args(cluster), *RESUME], cluster, tmp_path / "first.txt")
    try:
        wait_for_file(slurm / run_dir / "checkpoint.pt", first, timeout=180)
        (job,) = submitted((tmp_path / "first.txt").read_text())
        subprocess.run(["scancel", job], env=cluster, check=True, timeout=30)
        deadline = time.monotonic() + 30
        while not sacct(cluster, job)[job][0].startswith("CANCELLED") or job_processes(job):
            assert time.monotonic() < deadline, (sacct(cluster, job), job_processes(job))
            time.sleep(0.2)
        # Plugin 2.8.0 misses the cancellation when sacct checks the status ("CANCELLED by 0" is not
        # "CANCELLED") and would wait forever: stop it as a user would, with Ctrl-C. (With
        # --slurm-status-command squeue it stops by itself, one status check later: 10-30 s.)
        os.killpg(first.pid, signal.SIGINT)
        first.wait(timeout=60)
    finally:
        kill_group(first)
    assert first.returncode != 0
    assert not (slurm / run_dir / "metrics.json").exists(), "the run ended before it could be cancelled"

    started = time.perf_counter()
    code, output = run(slurm, [target, *slurm_args(cluster), "--rerun-incomplete", *RESUME], cluster,
                       tmp_path / "rerun.txt", 300)  # fmt: skip
    print(f"\nSLURM rerun after scancel: {time.perf_counter() - started:.0f} s")
    assert code == 0, output[-8000:]
    (rerun_job,) = submitted(output)
    states = sacct(cluster, job, rerun_job)
    assert states[job][0].startswith("CANCELLED") and states[rerun_job][0] == "COMPLETED", states
    log = (slurm / "results/logs/train" / f"{Path(run_dir).name}.log").read_text()
    assert "resumed from" in log, log
    try:
        assert reference.wait(timeout=300) == 0, (tmp_path / "local.txt").read_text()[-6000:]
    finally:
        kill_group(reference)
    pd.testing.assert_frame_equal(history(slurm, run_dir), history(local, run_dir), check_exact=True)
    assert list(history(slurm, run_dir).columns) == RESULT_COLUMNS


def sbatch_calls(output: str, rule: str) -> list[list[str]]:
    """The sbatch options (up to the wrapped command) of every job of `rule` (logged with --verbose)."""
    calls = re.findall(rf"sbatch call: (sbatch .*?--comment rule_{rule}(?:_wildcards_\S+)? .*?) --wrap=", output)
    return [call.split() for call in calls]


def test_cpu_train_jobs_ask_for_their_threads_and_no_gpu(runs):
    calls = sbatch_calls(runs.output, "train")
    assert len(calls) == len(reduced_plan(runs.slurm).runs) == 5
    for options in calls:  # the reduced config trains on one thread (execution.train_threads in smoke.yaml)
        assert "--cpus-per-task=1" in options and "--ntasks=1" in options
        assert not any("gpu" in option for option in options)


def test_cuda_train_jobs_ask_for_one_gpu_and_their_threads(cluster, tmp_path):
    # The test node has no GPU, so sbatch refuses the job: what is checked is what the job asked for.
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "cuda.yaml").write_text(yaml.safe_dump({"execution": {"device": "cuda", "train_threads": 2}}))
    args = [f"{resume_run_dir()}/metrics.json", *slurm_args(cluster), "--retries", "0", "--verbose", *RESUME]
    code, output = run(workdir, [*args, "cuda.yaml"], cluster, tmp_path / "out.txt", 120)
    assert code != 0 and "Invalid generic resource (gres) specification" in output, output[-6000:]
    (options,) = sbatch_calls(output, "train")
    assert "--gpus=1" in options and "--cpus-per-task=2" in options, options
    assert not any(option.startswith("--ntasks") for option in options), options


def test_packed_train_jobs_ask_for_the_gpu_shards_their_memory_needs(cluster, tmp_path):
    # slurm_gpu_shards set on the command line as a profile's `config:` entry sets it (nested values arrive
    # as strings). The test node has no GPU shards, so sbatch refuses the job; checked is what it asked for.
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "cuda.yaml").write_text(yaml.safe_dump({"execution": {"device": "cuda"}}))
    files = [REPO / "config/config.yaml", REPO / "config/smoke.yaml", REPO / "tests/slurm/resume.yaml"]
    run_config = make_plan(validated(read_config_files(files), check_paths=False)).run_of("resume", "a", 0).config
    memory = train_memory_mb(run_config, 256)  # smoke.yaml's eval batch
    # four shards of a little over half the run's memory each: it needs two
    packing = f"execution={{slurm_gpu_shards: 4, gpu_memory_mb: {2 * memory + 100}}}"
    args = [f"{resume_run_dir()}/metrics.json", *slurm_args(cluster), "--retries", "0", "--verbose", *RESUME]
    code, output = run(workdir, [*args, "cuda.yaml", "--config", packing], cluster, tmp_path / "out.txt", 120)
    assert code != 0 and "Invalid generic resource (gres) specification" in output, output[-6000:]
    (options,) = sbatch_calls(output, "train")
    assert "--gres=shard:2" in options, options
    assert not any(option.startswith("--gpus") for option in options), options


def test_a_raised_length_grows_its_run_in_one_slurm_job(cluster, tmp_path):
    """tests/grow.yaml through the profile, then a_long raised from 3 to 5 epochs: one train job, which continues
    from the run's final state, and ends with the numbers of a local run that trained 5 epochs in one go."""
    slurm, local = copy_workflow(tmp_path / "slurm"), copy_workflow(tmp_path / "local")
    grow = ["--configfile", "tests/grow.yaml"]
    code, output = run(slurm, [*slurm_args(cluster), *grow], cluster, tmp_path / "first.txt", 600)
    assert code == 0, output[-8000:]
    assert Counter(submitted(output).values())["train"] == 2
    for workdir in (slurm, local):
        path = workdir / "tests/grow.yaml"
        config = yaml.safe_load(path.read_text())
        config["studies"]["grow"]["variants"]["a_long"]["epochs"] = 5
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    reference = start(local, ["--cores", "1", *grow], local_env(), tmp_path / "local.txt")
    try:
        code, output = run(slurm, [*slurm_args(cluster), *grow], cluster, tmp_path / "grown.txt", 600)
        assert code == 0, output[-8000:]
        assert reference.wait(timeout=600) == 0, (tmp_path / "local.txt").read_text()[-6000:]
    finally:
        kill_group(reference)
    # study_runs is a local rule: it runs on the submitting machine (the plan's other files are written at parse time)
    assert Counter(submitted(output).values()) == {"train": 1, "study_summary": 1, "study_curves": 1, "report": 1}
    files = [slurm / "config/config.yaml", slurm / "tests/grow.yaml"]
    run_dir = make_plan(validated(read_config_files(files), check_paths=False)).run_of("grow", "a_long", 0).dir
    log = (slurm / "results/logs/train" / f"{Path(run_dir).name}.log").read_text()
    assert "grows: continuing at epoch 4 of 5" in log and "epoch 1/5" not in log, log
    pd.testing.assert_frame_equal(history(slurm, run_dir), history(local, run_dir), check_exact=True)
    assert (slurm / run_dir / "steps.csv").read_bytes() == (local / run_dir / "steps.csv").read_bytes()
