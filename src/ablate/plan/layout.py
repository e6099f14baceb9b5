"""The plan as files (workflow/rules/plan.smk): each run's identity and the lengths it trains to, the dataset's
identity, the runtime settings train jobs read, and each study's membership table. The other stages' outputs
are theirs: ablate.data.layout, ablate.rundir, ablate.analysis.layout, ablate.report.spec. Plain strings and
a csv writer: the workflow reads this at parse time.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

from ablate import rundir

RUN_CONFIG = "results/plan/runs/{run}.json"  # its identity (ablate.trajectory): never rewritten
# the length a train job takes the run to, and the member lengths it keeps weights at (ablate.trajectory)
RUN_LENGTH = "results/plan/lengths/{run}/epochs{epochs}.json"
DATASET_IDENTITY = "results/plan/data/{dataset}.json"
RUNTIME_SETTINGS = "results/runtime.json"
STUDY_RUNS = "results/studies/{study}/runs.csv"  # membership: variant, seed -> run

MEMBER_COLUMNS = ("study", "variant", "seed", "run", "epochs", "run_dir")


def write_members(members: Iterable[Mapping], path: str | Path) -> None:
    """A study's membership table (results/studies/<study>/runs.csv): one row per variant and seed."""

    def dump(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=MEMBER_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(members)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rundir.write_atomic(path, dump)
