# The run table: config -> studies -> runs, computed once at parse time by the library (no torch import). Parse
# time writes the plan's files named by their content (write_plan_files: it reads each run directory's progress
# once, to know which length a train job takes); input functions below only look things up.
import os
from functools import partial
from pathlib import Path

from ablate import rundir
from ablate.analysis.layout import BETA_CURVATURE_TABLE, ENVELOPE_TABLE, SURFACE_GRID, SURFACE_PATH
from ablate.analysis.findings import findings_inputs
from ablate.analysis.published import compared_studies
from ablate.data.layout import DATASET_ARRAYS, DATASET_MANIFEST
from ablate.execution.machine import require_tensorboard, uses_cuda
from ablate.execution.pool import NoGpu, detect_pool, require_no_gpus
from ablate.execution.slurm import gpu_shards
from ablate.exhibits import EXHIBITS, GENERIC_FILE, READS, generic, write_captions
from ablate.plan.config import naming_files, ordered_like, read_config_files, validated
from ablate.plan.layout import (
    DATASET_IDENTITY,
    RUN_CONFIG,
    RUNTIME_SETTINGS,
    STUDY_RUNS,
    write_if_changed,
    write_members,
    write_plan_files,
)
from ablate.plan.runs import config_hash, dataset_identity, make_plan
from ablate.report.spec import REPORT, REPORT_SPEC, interprets, report_spec, spec_paths
from ablate.rundir import MEMBER_WEIGHTS, RUNS_DIR, TRAIN_BENCHMARK

# schema validation with defaults (config/schema.yaml); a bad config stops here with one message. Keys in
# the order of the workflow's config file, then the --configfile files (see ordered_like), whatever order
# Snakemake merged them in. (workflow.configfiles lists the --configfile files first.)
_extra_files = [Path(f).resolve() for f in workflow.overwrite_configfiles]
_config_files = [f for f in workflow.configfiles if Path(f).resolve() not in _extra_files] + _extra_files
_merged = validated(ordered_like(config, read_config_files(_config_files)), files=_config_files)
config.clear()
config.update(_merged)
PLAN = make_plan(config)
DATASET = dataset_identity(config["dataset"])
DATASET_NAME = f"{DATASET['name']}-{config_hash(DATASET)}"  # named by its identity: never rewritten
DATASET_FILE = DATASET_MANIFEST.format(dataset=DATASET_NAME)
DATASET_DIR = DATASET_ARRAYS.format(dataset=DATASET_NAME)  # its splits, decoded once by the data job
SPEC = report_spec(PLAN, config)
# each run's config and length file and the dataset's identity, named by their content: written here, once
RUN_LENGTHS = write_plan_files(PLAN, DATASET, DATASET_NAME)


wildcard_constraints:
    run=rundir.RUN_ID,
    study=r"[a-z0-9][a-z0-9_.-]*",
    probe=r"[a-z_]+",
    epochs=r"[0-9]+",


def on_cluster(workflow) -> bool:
    """Whether train jobs run where a scheduler hands out the GPUs (a SLURM job takes the GPU it was given),
    not on this machine's pool of GPU slots.

    The one place that reads Snakemake's internals, checked against Snakemake 9.27.1. Both are properties of
    snakemake.workflow.Workflow without an underscore, but not documented API:
    - `workflow.nodes` is `global_resources["_nodes"]`, set from --jobs. A local run without --cores takes
      --jobs as its --cores and leaves it unset, so it is set for a non-local executor (--executor slurm),
      and also for a local run given both --cores and --jobs, or a dry run given --jobs.
    - `workflow.remote_exec`: true inside a job that an executor started elsewhere (a cluster node).
    """
    return workflow.nodes is not None or workflow.remote_exec


def software_deployment(workflow) -> bool:
    """Whether jobs run in an environment that Snakemake deploys (--sdm conda, apptainer, env-modules), not in
    this Python: Snakemake's settings object, as its API passes it (snakemake.settings.types.DeploymentSettings)."""
    return bool(workflow.deployment_settings.deployment_method)


# GPUs. On a cluster (SLURM) every train job asks the scheduler for one GPU (`gpu=1`, sbatch --gpus=1), or
# for the GPU shards its memory needs (execution.slurm_gpu_shards, ablate.execution.slurm). Locally the GPUs
# are a pool of slots, jobs_per_gpu per GPU (ablate.execution.pool): Snakemake runs train jobs while their
# slots fit in the global resource `gpu_slots`, and each job locks its slots of one GPU when it starts
# (ablate.execution.claims).
_execution = config["execution"]
ON_CLUSTER = on_cluster(workflow)
ON_GPU = uses_cuda(_execution["device"])
GPU_POOL = None
if ON_GPU and not ON_CLUSTER:
    try:
        GPU_POOL = detect_pool(_execution["jobs_per_gpu"], _execution["gpus"], _execution["gpu_memory_mb"])
    except NoGpu:
        if _execution["device"] == "cuda":
            raise
        ON_GPU = False  # device auto with a driver but no GPU visible (CUDA_VISIBLE_DEVICES=""): the CPU
if not ON_GPU and not ON_CLUSTER:
    with naming_files(_config_files):
        require_no_gpus(_execution)  # GPUs asked for by count or index where train jobs use none
if GPU_POOL is not None and "gpu_slots" not in workflow.global_resources:  # --resources gpu_slots=N wins
    workflow.register_resource("gpu_slots", GPU_POOL.slots)
SHARDED_GPU = (
    gpu_shards(_execution["slurm_gpu_shards"], _execution["gpu_memory_mb"])
    if ON_GPU and ON_CLUSTER and _execution["slurm_gpu_shards"]
    else None
)
TRAIN_GPUS = 1 if ON_GPU and SHARDED_GPU is None else 0


def train_slots(pool, wildcards):
    """Slots of one GPU of the local pool that a train job holds: more than one where its memory needs them."""
    run = PLAN.runs[wildcards.run].config
    return pool.slots_for_run(run, _execution["eval_batch_size"]) if pool is not None else 0


def train_gres(wildcards):
    """The GPU shards a train job asks SLURM for (execution.slurm_gpu_shards): as many as its memory needs."""
    if SHARDED_GPU is None:
        return ""
    return f"shard:{SHARDED_GPU.shards_for_run(PLAN.runs[wildcards.run].config, _execution['eval_batch_size'])}"


# Jobs run their entry scripts in children of one process that has imported torch and the library (the Snakefile's
# onstart, ablate.execution.forkserver), where they run here, in this Python.
FORK_SERVER = _execution["fork_server"] and not ON_CLUSTER and not software_deployment(workflow)

if _execution["tensorboard"]:
    require_tensorboard()  # before any job runs, not in each train job


# where and how runs execute (results/runtime.json): read by train jobs and the analyses that load data or
# models, never part of a run's identity
RUNTIME = {
    "device": _execution["device"],
    "compile": _execution["compile"],
    "eval_batch_size": _execution["eval_batch_size"],
    "data_root": config["dataset"]["root"],
    "decoded_data": DATASET_DIR,  # the arrays jobs load (data.smk); data_root: for runs without them (by hand)
    "gpu_pool": GPU_POOL.to_json() if GPU_POOL is not None else None,
    "tensorboard": PLAN.tensorboard_dirs() if _execution["tensorboard"] else None,  # run -> event directories
}
# Written here, where it changed (dry runs included): every reader takes it `ancient`, so a change reruns nothing
# and applies to the jobs that run from then on. Not a job: when a job reruns, Snakemake 9.27.1 masks every job
# below it and then skips those that take its outputs `ancient`, without checking their own params (dag.py,
# DAG.update_needrun; snakemake/snakemake#4166): a surface whose settings changed with the runtime ran a call late.
write_if_changed(RUNTIME_SETTINGS, RUNTIME)


def length_file(wildcards):
    """The length file of a train job (ablate.plan.layout.write_plan_files): where the run has new work (it trains,
    grows or resumes), the plan's length; else the length it was trained to, `ancient` (a lowered length trains
    nothing)."""
    path, grows = RUN_LENGTHS[wildcards.run]
    return path if grows else ancient(path)


def weights_file(member):
    """The weights file a member's readers take: its trajectory's weights after its epochs."""
    return MEMBER_WEIGHTS.format(run=member.run_id, epochs=member.epochs)


def surface_files(pattern, study):
    """One surface file (SURFACE_GRID or SURFACE_PATH) of each member of the study that gets a surface."""
    members = PLAN.studies[study].surface_members
    return [pattern.format(study=study, run=m.run_id, epochs=m.epochs) for m in members]


def surface_settings(study):
    """The study's `surface` settings as KEY=VALUE words for its script: all the schema has, but `variants` (which
    picks the members that get one); sorted, as the words are a param: an order alone must rerun nothing."""
    settings = PLAN.studies[study].surface
    return " ".join(f"{k}={settings[k]}" for k in sorted(settings) if k != "variants")


def run_files(run_dir, *names):
    """Files of a run directory as inputs; those too large to be checksummed are `ancient` (rundir.UNCHECKSUMMED)."""
    return [ancient(f"{run_dir}/{n}") if n in rundir.UNCHECKSUMMED else f"{run_dir}/{n}" for n in names]


def study_files(name, *studies):
    """One file of every run of the studies, e.g. study_files(rundir.HISTORY, "dropout")."""
    runs = dict.fromkeys(run for study in studies for run in PLAN.studies[study].run_ids)
    return [f for run in runs for f in run_files(rundir.run_dir(run), name)]


# Snakemake's report captions of the exhibits (ablate/exhibits.yaml), written here where their text changed
CAPTIONS = write_captions("results/report/captions")


def shown(name):
    """An exhibit's file as a rule's output marked for Snakemake's report, with its caption, category and labels
    from ablate/exhibits.yaml."""
    exhibit = EXHIBITS[name]
    return report(
        exhibit.file,
        caption=CAPTIONS[name],
        category=exhibit.category,
        subcategory="{study}" if exhibit.per_study else None,
        labels=exhibit.report_labels() or None,
    )


def exhibit_files(wildcards):
    """The run files a generic figure reads (its entry's `reads`), of every run of its study."""
    return [f for read in EXHIBITS[wildcards.exhibit].reads for f in study_files(READS[read], wildcards.study)]


# the studies whose numbers config/published.yaml (report.published) compares, where the config plans them
PUBLISHED_STUDIES = [s for s in compared_studies(config["report"]["published"]) if s in PLAN.studies]

# the studies whose runs the report's findings read, and their Hessian density and surface summaries
FINDINGS_STUDIES, FINDINGS_ANALYSES = findings_inputs(SPEC)
