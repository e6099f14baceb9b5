# A workaround for a Snakemake bug, snakemake/snakemake#4166 (open; seen in 9.19 and 9.27.1). When a job must
# rerun, DAG.update_needrun (snakemake/dag.py) masks every job below it and skips their own rerun triggers
# (params, code, metadata), trusting its walk down from the rerunning job to reach them; that walk then leaves
# out the jobs that take its outputs `ancient` (a train job's metrics, the data manifest), and so everything
# below them. A surface whose settings changed in the same edit as the dataset's root (the data job reruns)
# or as a run's length (its train job grows it) reran only at the next call. The masking is a shortcut and
# nothing more: without it every job is checked on its own triggers, as it is in a call where nothing above it
# reruns. Applied only to a Snakemake whose DAG.update_needrun still holds the masking line; tests/test_edits.py
# runs the edits that showed the bug.
import inspect
import sys

from snakemake.dag import DAG

_MASKING = "masked.update(self.bfs(self.depending, job))"


def _check_every_job(update_needrun):
    """DAG.update_needrun with its masking walk (the one `bfs` over `depending` that it calls itself) empty."""

    async def update_needrun_checking_every_job(self, *args, **kwargs):
        def bfs(direction, *jobs, **options):
            if direction is self.depending and sys._getframe(1).f_code.co_name == "update_needrun":
                return iter(())
            return DAG.bfs(self, direction, *jobs, **options)

        self.bfs = bfs
        try:
            return await update_needrun(self, *args, **kwargs)
        finally:
            del self.bfs

    return update_needrun_checking_every_job


if _MASKING in inspect.getsource(DAG.update_needrun):
    DAG.update_needrun = _check_every_job(DAG.update_needrun)
