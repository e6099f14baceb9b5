# The plan as files, written by the snakemake process itself (the plan exists only in this process, and nothing
# structured goes through a command line). Jobs take these files as inputs. Those named by their content (each
# run's config and length files, the dataset's identity) are written once at parse time (common.smk,
# ablate.plan.layout.write_plan_files), not by a job per file, and so is results/runtime.json, which every reader
# takes `ancient`. A study's membership table changes under one name and its readers rerun when it does: a local
# `run:` job rewrites it when its params (what it holds) change.
localrules:
    study_runs,


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
