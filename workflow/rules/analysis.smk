# Per study: membership (variant -> run), the per-variant summary (Tables 2 and 3) and the curves.
localrules:
    study_runs,


rule study_runs:
    output:
        "results/studies/{study}/runs.csv",
    params:
        rows=study_members_json,
    log:
        "results/logs/study_runs/{study}.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate study-runs --rows {params.rows:q} --out {output} > {log} 2>&1"


rule study_summary:
    input:
        runs="results/studies/{study}/runs.csv",
        configs=lambda wc: study_files("config.json", wc),
        metrics=lambda wc: study_files("metrics.json", wc),
    output:
        "results/studies/{study}/summary.csv",
    log:
        "results/logs/study_summary/{study}.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate summary --runs {input.runs} --out {output} > {log} 2>&1"


rule study_curves:
    input:
        runs="results/studies/{study}/runs.csv",
        histories=lambda wc: study_files("history.csv", wc),
        metrics=lambda wc: study_files("metrics.json", wc),
    output:
        "results/studies/{study}/curves.png",
    params:
        title=lambda wc: PLAN.studies[wc.study].title,
    log:
        "results/logs/study_curves/{study}.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate curves --runs {input.runs} --title {params.title:q} --out {output} > {log} 2>&1"


rule hyperparameters:
    input:
        f"{hyperparameters_run().dir}/config.json",
    output:
        "results/tables/hyperparameters.csv",
    log:
        "results/logs/hyperparameters.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate hyperparameters --run-config {input} --out {output} > {log} 2>&1"
