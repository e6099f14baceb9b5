# The plan as files, written by the snakemake process itself (local `run:` rules, no job script: the plan
# exists only in this process, and nothing structured goes through a command line). Jobs take these files as
# inputs. A run's config file and the dataset's identity are named by the hash of their content, so they
# are never rewritten and their readers take them `ancient`; the others are rewritten when their params (what
# they hold) change, which reruns exactly their readers.
localrules:
    run_config,
    dataset_identity,
    runtime,
    study_runs,


rule run_config:
    output:
        RUN_CONFIG,
    log:
        "results/logs/plan/{run}.log",
    run:
        rundir.write_json(output[0], PLAN.runs[wildcards.run].config)


rule dataset_identity:
    output:
        DATASET_IDENTITY.format(dataset=DATASET_NAME),
    log:
        "results/logs/plan/dataset.log",
    run:
        rundir.write_json(output[0], DATASET)


# Device, data root, GPUs and the like, for train jobs to read. A change reruns this job only: train jobs
# take it as an `ancient` input, so new settings apply to runs trained from then on.
rule runtime:
    output:
        RUNTIME_SETTINGS,
    params:
        settings=RUNTIME,
    log:
        "results/logs/plan/runtime.log",
    run:
        rundir.write_json(output[0], params.settings)


# A study's members: variant and seed -> run (its table, and what its analyses read).
rule study_runs:
    output:
        STUDY_RUNS,
    params:
        members=lambda wc: [m.row() for m in PLAN.studies[wc.study].members],
    log:
        "results/logs/plan/{study}-runs.log",
    run:
        write_members(params.members, output[0])
