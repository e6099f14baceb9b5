"""ablate: the CIFAR-10 ablation and BatchNorm study of project2-report.md as a reproducible workflow."""

__version__ = "0.1.0"

# Part of every run's identity (results/runs/<model>-<hash>). Snakemake does not look at library code,
# so editing or touching it never retrains anything; bump this number when a change to training
# (data pipeline, models, losses, loop) should give new results, and every run is trained anew.
TRAINING_CODE_VERSION = 2  # 2: stratified subsets, VGG dropout placement, probes along the update
