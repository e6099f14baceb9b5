# One self-contained HTML page with every table and figure, beside the published numbers.


rule report:
    input:
        runs=expand("results/studies/{study}/runs.csv", study=PLAN.studies),
        summaries=expand("results/studies/{study}/summary.csv", study=PLAN.studies),
        curves=expand("results/studies/{study}/curves.png", study=PLAN.studies),
        envelopes=envelope_figures(),
        hyperparameters="results/tables/hyperparameters.csv",
        interpret=INTERPRET_OUTPUTS,
        published=config["report"]["published"],
        sources=config["report"]["sources"],
        metrics=expand(f"{RUNS_DIR}/{{run}}/metrics.json", run=PLAN.runs),
        benchmarks=expand("results/benchmarks/train/{run}.tsv", run=PLAN.runs),
    output:
        report("report/report.html", caption="../report/report.rst", category="0. Report"),
    params:
        spec=canonical_json(report_spec()),
    log:
        "results/logs/report.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate report --spec {params.spec:q} --out {output} > {log} 2>&1"
