# Per study: the per-variant summary (Tables 2 and 3), the curves, and the BatchNorm analyses; Table 1.


rule study_summary:
    input:
        runs=STUDY_RUNS,
        configs=lambda wc: study_files(rundir.CONFIG, wc),
        metrics=lambda wc: study_files(rundir.METRICS, wc),
    output:
        report(
            STUDY_SUMMARY,
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
        'python "$ABLATE_SCRIPTS/study_summary.py" --runs {input.runs} --out {output} > {log} 2>&1'


rule study_curves:
    input:
        runs=STUDY_RUNS,
        histories=lambda wc: study_files(rundir.HISTORY, wc),
        metrics=lambda wc: study_files(rundir.METRICS, wc),
    output:
        report(
            STUDY_CURVES,
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
        'python "$ABLATE_SCRIPTS/study_curves.py" --runs {input.runs} --title {params.title:q} --out {output} '
        "> {log} 2>&1"


# The BatchNorm analyses (2.2-2.4): per step, the band of a probe over the runs of each model.
rule probe_envelope:
    input:
        runs=STUDY_RUNS,
        steps=lambda wc: study_files(rundir.STEPS, wc),
        metrics=lambda wc: study_files(rundir.METRICS, wc),
        configs=lambda wc: study_files(rundir.CONFIG, wc),
    output:
        table=ENVELOPE_TABLE,
        figure=report(
            ENVELOPE_FIGURE,
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
        'python "$ABLATE_SCRIPTS/probe_envelope.py" --runs {input.runs} --probe {wildcards.probe} '
        "--group-by {params.group_by:q} --smoothing {params.smoothing} --title {params.title:q} "
        "--table {output.table} --figure {output.figure} > {log} 2>&1"


rule hyperparameters:
    input:
        f"{report_run_dir(PLAN, 'hyperparameters')}/{rundir.CONFIG}",
    output:
        report(HYPERPARAMETERS, caption="../report/hyperparameters.rst", category="1. Tables"),
    log:
        "results/logs/hyperparameters.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        'python "$ABLATE_SCRIPTS/hyperparameters.py" --run-config {input} --out {output} > {log} 2>&1'
