# Fetch or check the data once, on the machine that runs snakemake (compute nodes may have no network).
localrules:
    dataset,


rule dataset:
    output:
        DATASET_MANIFEST,
    params:
        identity=canonical_json(DATASET),
        root=config["dataset"]["root"],
        download="--download" if config["dataset"]["download"] else "",
    log:
        "results/logs/dataset.log",
    shell:
        "python -m ablate data --identity {params.identity:q} --root {params.root:q} "
        "{params.download} --out {output} > {log} 2>&1"
