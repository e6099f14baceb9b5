"""Where train jobs execute, apart from how they train: the machine's facts (machine), a run's GPU memory
(memory), the local GPUs as a pool of slots (pool), the slots a job holds while it runs (claims), and a
SLURM cluster's GPU shards (slurm).

The workflow reads these at parse time and train jobs when they start, so nothing here imports torch, and
nothing imports the stages (ablate.plan, ablate.training, ablate.analysis, ablate.report): training imports
this, not the reverse. tests/test_gpus.py checks both.
"""
