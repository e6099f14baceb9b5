# The run table: config -> studies -> runs, computed once at parse time by the library (no torch import,
# no side effects). Input functions below only look things up in it.
from functools import partial
from pathlib import Path

from ablate.config import ordered_like, read_config_files, validated
from ablate.execution import uses_cuda
from ablate.gpus import NoGpu, detect_pool, shard_pool, train_memory_mb
from ablate.plan import RUNS_DIR, canonical_json, config_hash, dataset_identity, make_plan, plan_hash
from ablate.scope import departures_from_study

# schema validation with defaults (config/schema.yaml); a bad config stops here with one message. Keys in
# the order of the workflow's config file, then the --configfile files (see ordered_like), whatever order
# Snakemake merged them in. (workflow.configfiles lists the --configfile files first.)
_extra_files = [Path(f).resolve() for f in workflow.overwrite_configfiles]
_config_files = [f for f in workflow.configfiles if Path(f).resolve() not in _extra_files] + _extra_files
_merged = validated(ordered_like(config, read_config_files(_config_files)))
config.clear()
config.update(_merged)
PLAN = make_plan(config)
DATASET = dataset_identity(config["dataset"])
DATASET_MANIFEST = f"results/data/{DATASET['name']}-{config_hash(DATASET)}.json"


wildcard_constraints:
    run=r"[a-z0-9_]+-[0-9a-f]{10}",
    study=r"[a-z0-9][a-z0-9_.-]*",
    probe=r"[a-z_]+",


# GPUs. On a cluster (SLURM) every train job asks the scheduler for one GPU (`gpu=1`, sbatch --gpus=1), or
# for the GPU shards its memory needs (execution.slurm_gpu_shards). Locally the GPUs are a pool of slots,
# jobs_per_gpu per GPU: Snakemake runs train jobs while their slots fit in the global resource `gpu_slots`,
# and each job locks its slots of one GPU when it starts (ablate.gpus). Jobs on cluster nodes (remote
# execution) take the GPU their scheduler gave them.
_execution = config["execution"]
ON_CLUSTER = workflow.global_resources["_nodes"].value is not None or workflow.remote_exec
ON_GPU = uses_cuda(_execution["device"])
GPU_POOL = None
if ON_GPU and not ON_CLUSTER:
    try:
        GPU_POOL = detect_pool(_execution["jobs_per_gpu"], _execution["gpus"], _execution["gpu_memory_mb"])
    except NoGpu:
        if _execution["device"] == "cuda":
            raise
        ON_GPU = False  # device auto with a driver but no GPU visible (CUDA_VISIBLE_DEVICES=""): the CPU
if GPU_POOL is not None and "gpu_slots" not in workflow.global_resources:  # --resources gpu_slots=N wins
    workflow.register_resource("gpu_slots", GPU_POOL.slots)
SHARDED_GPU = (
    shard_pool(_execution["slurm_gpu_shards"], _execution["gpu_memory_mb"])
    if ON_GPU and ON_CLUSTER and _execution["slurm_gpu_shards"]
    else None
)
TRAIN_GPUS = 1 if ON_GPU and SHARDED_GPU is None else 0


def train_slots(pool, wildcards):
    """Slots of one GPU (shards on SLURM) that a train job holds: more than one where its memory needs them."""
    run = PLAN.runs[wildcards.run].config
    return pool.slots_for(train_memory_mb(run, _execution["eval_batch_size"])) if pool is not None else 0


def train_gres(wildcards):
    return f"shard:{train_slots(SHARDED_GPU, wildcards)}" if SHARDED_GPU is not None else ""


# where and how runs execute: read by train jobs, never part of their identity
RUNTIME = {
    "device": _execution["device"],
    "compile": _execution["compile"],
    "eval_batch_size": _execution["eval_batch_size"],
    "data_root": config["dataset"]["root"],
    "gpu_pool": GPU_POOL.to_json() if GPU_POOL is not None else None,
}


def run_config_json(wildcards):
    return canonical_json(PLAN.runs[wildcards.run].config)


def study_files(name, wildcards):
    """One file of every run of a study, e.g. study_files("history.csv", wildcards)."""
    return [f"{RUNS_DIR}/{run}/{name}" for run in PLAN.studies[wildcards.study].run_ids]


def study_members_json(wildcards):
    return canonical_json([m.row() for m in PLAN.studies[wildcards.study].members])


def report_run(key):
    """The run that report.<key> (hyperparameters, filters, feature_maps) points at: that study's first seed."""
    study, variant = PLAN.report_refs[key]
    return PLAN.run_of(study, variant, PLAN.studies[study].seeds[0])


# section 1.9 (network interpretation) needs both of its runs; config/config.yaml names them
INTERPRET = bool(PLAN.report_refs["filters"] and PLAN.report_refs["feature_maps"])
INTERPRET_OUTPUTS = (
    [
        "results/tables/architecture.csv",
        "results/interpret/filters.png",
        "results/interpret/feature_maps.png",
    ]
    if INTERPRET
    else []
)


def report_spec():
    """Everything the report shows, by path; the report rule's inputs are the same paths."""
    study, variant = PLAN.report_refs["hyperparameters"]
    return {
        "title": config["report"]["title"],
        "config_hash": plan_hash(PLAN, config),
        # not the real study (generated data, narrow models, fewer epochs, a subset): the report's banner
        "departures_from_study": departures_from_study(config, [r.config for r in PLAN.runs.values()]),
        "studies": [
            {
                "name": s.name,
                "title": s.title,
                "table": s.table,
                "figure": s.figure,
                "runs": f"results/studies/{s.name}/runs.csv",
                "summary": f"results/studies/{s.name}/summary.csv",
                "curves": f"results/studies/{s.name}/curves.png",
                "envelopes": [
                    {"probe": p, "figure": f"results/analysis/{s.name}/{p}.png"}
                    for p in s.probes
                ],
            }
            for s in PLAN.studies.values()
        ],
        "hyperparameters": {
            "table": "results/tables/hyperparameters.csv",
            "study": study,
            "variant": variant,
            "run_dir": report_run("hyperparameters").dir,
        },
        "interpret": (
            {
                "architecture": "results/tables/architecture.csv",
                "filters": "results/interpret/filters.png",
                "filters_run": report_run("filters").dir,
                "feature_maps": "results/interpret/feature_maps.png",
                "feature_maps_run": report_run("feature_maps").dir,
                "stage": config["report"]["feature_maps"]["stage"],
            }
            if INTERPRET
            else None
        ),
        "published": config["report"]["published"],
        "sources": config["report"]["sources"],
        "benchmarks": [f"results/benchmarks/train/{run}.tsv" for run in PLAN.runs],
    }


def envelope_figures():
    return [f"results/analysis/{s.name}/{p}.png" for s in PLAN.studies.values() for p in s.probes]
