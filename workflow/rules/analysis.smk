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
        report(
            "results/studies/{study}/summary.csv",
            caption="../report/summary.rst",
            category="2. Studies",
            subcategory="{study}",
            labels={"study": "{study}", "figure": "summary table"},
        ),
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
        report(
            "results/studies/{study}/curves.png",
            caption="../report/curves.rst",
            category="2. Studies",
            subcategory="{study}",
            labels={"study": "{study}", "figure": "curves"},
        ),
    params:
        title=lambda wc: PLAN.studies[wc.study].title,
    log:
        "results/logs/study_curves/{study}.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate curves --runs {input.runs} --title {params.title:q} --out {output} > {log} 2>&1"


# The BatchNorm analyses (2.2-2.4): per step, the band of a probe over the runs of each model.
rule probe_envelope:
    input:
        runs="results/studies/{study}/runs.csv",
        # steps.csv outgrows Snakemake's checksum limit (1 MB) in the full study, so a touch would look like
        # a change: it is `ancient`, and metrics.json (small, rewritten by every training) says when it changed
        steps=lambda wc: [ancient(f) for f in study_files("steps.csv", wc)],
        metrics=lambda wc: study_files("metrics.json", wc),
        configs=lambda wc: study_files("config.json", wc),
    output:
        table="results/analysis/{study}/{probe}.csv",
        figure=report(
            "results/analysis/{study}/{probe}.png",
            caption="../report/envelope.rst",
            category="3. BatchNorm analyses",
            subcategory="{study}",
            labels={"study": "{study}", "probe": "{probe}"},
        ),
    params:
        group_by=config["analysis"]["group_by"],
        smoothing=config["analysis"]["smoothing"],
        title=lambda wc: PLAN.studies[wc.study].title,
    log:
        "results/logs/probe_envelope/{study}-{probe}.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate envelope --runs {input.runs} --probe {wildcards.probe} --group-by {params.group_by:q} "
        "--smoothing {params.smoothing} --title {params.title:q} --table {output.table} --figure {output.figure} "
        "> {log} 2>&1"


rule hyperparameters:
    input:
        f"{report_run('hyperparameters').dir}/config.json",
    output:
        report("results/tables/hyperparameters.csv", caption="../report/hyperparameters.rst", category="1. Tables"),
    log:
        "results/logs/hyperparameters.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate hyperparameters --run-config {input} --out {output} > {log} 2>&1"


# Section 1.9, network interpretation: the ResNets' architecture table (Figure 8, measured by a forward
# pass), the first-layer filters of a trained ResNet, and a test image's feature maps through one stage.
rule architecture:
    output:
        report("results/tables/architecture.csv", caption="../report/architecture.rst", category="1. Tables"),
    params:
        width=lambda wc: report_run("feature_maps").config["width"],
    log:
        "results/logs/architecture.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate architecture --width {params.width} --out {output} > {log} 2>&1"


rule filters:
    input:
        # model.pt is too big to be checksummed (a touch would look like a change): `ancient`, with
        # metrics.json telling when the run was trained again
        model=lambda wc: ancient(f"{report_run('filters').dir}/model.pt"),
        metrics=lambda wc: f"{report_run('filters').dir}/metrics.json",
        config=lambda wc: f"{report_run('filters').dir}/config.json",
    output:
        report("results/interpret/filters.png", caption="../report/filters.rst", category="4. Interpretation"),
    params:
        run_dir=lambda wc: report_run("filters").dir,
    log:
        "results/logs/filters.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate filters --run-dir {params.run_dir} --out {output} > {log} 2>&1"


rule feature_maps:
    input:
        model=lambda wc: ancient(f"{report_run('feature_maps').dir}/model.pt"),
        metrics=lambda wc: f"{report_run('feature_maps').dir}/metrics.json",
        config=lambda wc: f"{report_run('feature_maps').dir}/config.json",
        runtime=ancient("results/runtime.json"),
    output:
        report(
            "results/interpret/feature_maps.png", caption="../report/feature_maps.rst", category="4. Interpretation"
        ),
    params:
        run_dir=lambda wc: report_run("feature_maps").dir,
        stage=config["report"]["feature_maps"]["stage"] if INTERPRET else "",
        image=config["report"]["feature_maps"]["image"] if INTERPRET else 0,
    log:
        "results/logs/feature_maps.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate feature-maps --run-dir {params.run_dir} --runtime {input.runtime} "
        "--stage {params.stage} --image {params.image} --out {output} > {log} 2>&1"
