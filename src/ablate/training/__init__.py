"""Stage 3, training: models, their components and the BatchNorm probes; where and how a run executes (device:
device and precision policy; gpus: GPU slots); and one run from its resolved config to its run directory:
trainer (assembles the pieces), loop (the epochs), checkpoint (resumable state), outputs (the run's files),
job (a train job as the workflow runs it)."""
