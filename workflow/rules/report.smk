# The report's spec (results/report/spec.json: what the report shows, by path; ablate.report.spec), written by
# the snakemake process itself like the plan's files (plan.smk), then one self-contained HTML page with every
# table and figure, beside the published numbers. The report rule's inputs are the files its spec names.
localrules:
    report_spec,


# Its params hold the spec's hash, not the spec: an edit that changes what the report shows rewrites the spec,
# while `snakemake -n` names a short hash as the reason, not kilobytes of spec. The spec's `config_hash` names
# the plan, so an edit that leaves every run the same (lr: 1 for lr: 1.0) changes nothing here.
rule report_spec:
    output:
        REPORT_SPEC,
    log:
        "results/logs/report/spec.log",
    benchmark:
        "results/benchmarks/report/spec.tsv"
    params:
        spec_hash=config_hash(SPEC),
    run:
        rundir.write_json(output[0], SPEC)


rule report:
    input:
        spec=REPORT_SPEC,
        shown=list(spec_paths(SPEC)),
    output:
        report(REPORT, caption="../report/report.rst", category="0. Report"),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../envs/ablate.yaml"
    shell:
        'python "$ABLATE_SCRIPTS/report.py" --spec {input.spec} --out {output} > {log} 2>&1'
