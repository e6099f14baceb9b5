# Fetch, check and decode the data once, on the machine that runs snakemake (compute nodes may have no
# network): the dataset identity's splits, after the subset draw, as uint8 arrays that every job then loads
# (ablate.data.layout), and the manifest beside them. Its output goes to the log and to the terminal (tee; the
# shell's pipefail keeps a failure's exit status): offline, the message that says where to put
# cifar-10-python.tar.gz shows without --show-failed-logs.
# It runs before the other ready jobs (priority): a data problem stops the workflow before the plan's many
# small jobs have run.
# The source's fingerprint (an image folder's file listing: paths, sizes, modification times; computed here, at
# parse time) is a param: a changed folder is decoded again (Snakemake's params rerun trigger). Train jobs take
# the manifest `ancient`: new arrays never retrain a run.
from ablate import registry
from ablate.data.layout import array_files


localrules:
    dataset,


rule dataset:
    input:
        ancient(DATASET_IDENTITY.format(dataset=DATASET_NAME)),
    output:
        manifest=DATASET_FILE,
        arrays=array_files(DATASET_DIR),
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
        folder=lambda wc, output: os.path.dirname(output.arrays[0]),
        fingerprint=registry.DATASETS[DATASET["name"]].source.fingerprint(config["dataset"]),
    shell:
        'python "$ABLATE_SCRIPTS/dataset.py" --identity {input} --root {params.root:q} {params.download} '
        "--out {params.folder} --fingerprint={params.fingerprint:q} 2>&1 | tee {log}"
