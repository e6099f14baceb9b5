"""Stage 3, training: models, their components and the BatchNorm probes; how a run's arithmetic is done (device:
device and precision policy); and one run from its resolved config to its run directory: trainer (assembles
the pieces), loop (the epochs), checkpoint (resumable state), outputs (the run's files), job (a train job as
the workflow runs it, holding its GPU slots). Where jobs execute (GPUs, slots, memory, SLURM shards) is
ablate.execution's."""
