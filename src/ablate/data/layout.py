"""Where the data stage's file lands (workflow/rules/data.smk): the data job's manifest, what it found."""

DATASET_MANIFEST = "results/data/{dataset}.json"
