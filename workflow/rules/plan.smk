# The plan as files, written by the snakemake process itself (the plan exists only in this process, and nothing
# structured goes through a command line). Jobs take these files as inputs. Those named by their content (each
# run's config and length files, the dataset's identity) are written once at parse time (common.smk,
# ablate.plan.layout.write_plan_files), not by a job per file. The two below hold what can change under one name:
# local `run:` jobs rewrite them when their params (what they hold) change, which reruns exactly their readers.
localrules:
    runtime,
    study_runs,


# Device, data root, GPUs and the like, for train jobs to read. A change reruns this job only: train jobs
# take it as an `ancient` input, so new settings apply to runs trained from then on.
rule runtime:
    output:
        RUNTIME_SETTINGS,
    log:
        "results/logs/plan/runtime.log",
    benchmark:
        "results/benchmarks/plan/runtime.tsv"
    params:
        settings=RUNTIME,
    run:
        rundir.write_json(output[0], params.settings)


# A study's members: variant and seed -> run (its table, and what its analyses read).
rule study_runs:
    output:
        STUDY_RUNS,
    log:
        "results/logs/plan/{study}-runs.log",
    benchmark:
        "results/benchmarks/plan/{study}-runs.tsv"
    params:
        members=lambda wc: [m.row() for m in PLAN.studies[wc.study].members],
    run:
        write_members(params.members, output[0])
