"""Where train jobs execute, apart from how they train: the machine's facts (machine), a run's GPU memory
(memory), the local GPUs as a pool of slots (pool), the slots a job holds while it runs (claims), a
SLURM cluster's GPU shards (slurm), and the fork server that runs local jobs' entry scripts in children of one
process that has imported torch (forkserver: the client and its start; forkhost: the server's process).

The workflow reads these at parse time and train jobs when they start, so nothing here imports torch, and
nothing imports the stages (ablate.plan, ablate.training, ablate.analysis, ablate.report): training imports
this, not the reverse (the fork server's process imports by name what the entry scripts import). tests/test_gpus.py
checks both.
"""
