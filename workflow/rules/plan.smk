# The plan as files, written by the snakemake process itself (local `run:` rules, no job script: the plan
# exists only in this process, and nothing structured goes through a command line). Jobs take these files as
# inputs. A run's config file and the dataset's identity are named by the hash of their content, so they
# are never rewritten and their readers take them `ancient`; the others are rewritten when their params (what
# they hold) change, which reruns exactly their readers.
localrules:
    run_config,
    run_length,
    dataset_identity,
    runtime,
    study_runs,


rule run_config:
    output:
        RUN_CONFIG,
    log:
        "results/logs/plan/{run}.log",
    benchmark:
        "results/benchmarks/plan/{run}.tsv"
    run:
        rundir.write_json(output[0], PLAN.runs[wildcards.run].config)


# The length a train job takes its run to (the name says it), and the member lengths it keeps weights at, as
# the plan had them when the file was written (never rewritten). Which length file a train job reads is the
# train rule's input function length_file (common.smk): a new name grows the run.
rule run_length:
    output:
        RUN_LENGTH,
    log:
        "results/logs/plan/{run}-epochs{epochs}.log",
    benchmark:
        "results/benchmarks/plan/{run}-epochs{epochs}.tsv"
    run:
        epochs = int(wildcards.epochs)
        weights_at = [e for e in PLAN.runs[wildcards.run].member_epochs if e <= epochs]
        rundir.write_json(output[0], {"epochs": epochs, "weights_at": weights_at})


rule dataset_identity:
    output:
        DATASET_IDENTITY.format(dataset=DATASET_NAME),
    log:
        "results/logs/plan/dataset.log",
    benchmark:
        "results/benchmarks/plan/dataset.tsv"
    priority: 100  # the data job's input, which runs first (data.smk)
    run:
        rundir.write_json(output[0], DATASET)


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
