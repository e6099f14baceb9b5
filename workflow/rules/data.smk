# Fetch or check the data once, on the machine that runs snakemake (compute nodes may have no network).
# Its output goes to the log and to the terminal (tee; the shell's pipefail keeps a failure's exit status):
# offline, the message that says where to put cifar-10-python.tar.gz shows without --show-failed-logs.
# It runs before the other ready jobs (priority): a data problem stops the workflow before the plan's many
# small jobs have run.
localrules:
    dataset,


rule dataset:
    input:
        ancient(DATASET_IDENTITY.format(dataset=DATASET_NAME)),
    output:
        DATASET_FILE,
    log:
        "results/logs/dataset.log",
    benchmark:
        "results/benchmarks/dataset.tsv"
    priority: 100
    conda:
        "../envs/ablate.yaml"
    params:
        root=config["dataset"]["root"],
        download="--download" if config["dataset"]["download"] else "",
    shell:
        'python "$ABLATE_SCRIPTS/dataset.py" --identity {input} --root {params.root:q} {params.download} '
        "--out {output} 2>&1 | tee {log}"
