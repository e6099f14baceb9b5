# One self-contained HTML page with every table and figure, beside the published numbers. Its inputs are the
# files its spec names (results/plan/report.json, written by plan.smk).


rule report:
    input:
        spec=REPORT_SPEC,
        shown=list(spec_paths(SPEC)),
    output:
        report("report/report.html", caption="../report/report.rst", category="0. Report"),
    log:
        "results/logs/report.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        'python "$ABLATE_SCRIPTS/report.py" --spec {input.spec} --out {output} > {log} 2>&1'
