# Fetch or check the data once, on the machine that runs snakemake (compute nodes may have no network).
# Its output goes to the log and to the terminal (tee; the shell's pipefail keeps a failure's exit status):
# offline, the message that says where to put cifar-10-python.tar.gz shows without --show-failed-logs.
localrules:
    dataset,
    runtime,


rule dataset:
    output:
        DATASET_MANIFEST,
    params:
        identity=canonical_json(DATASET),
        root=config["dataset"]["root"],
        download="--download" if config["dataset"]["download"] else "",
    log:
        "results/logs/dataset.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate data --identity {params.identity:q} --root {params.root:q} "
        "{params.download} --out {output} 2>&1 | tee {log}"


# Device, data root and the like, for train jobs to read. A change reruns this job only: train jobs
# take it as an `ancient` input, so new settings apply to runs trained from then on.
rule runtime:
    output:
        "results/runtime.json",
    params:
        runtime=canonical_json(RUNTIME),
    log:
        "results/logs/runtime.log",
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate write-json --json {params.runtime:q} --out {output} > {log} 2>&1"
