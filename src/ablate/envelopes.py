"""The BatchNorm analyses (original report 2.2-2.4; Santurkar et al. 2018, Fig. 4): per-step envelopes.

For a study whose runs carry probes, the runs are grouped by one config key (the model: VGG-A with and
without BatchNorm), and at every step the min, max and mean over the group's runs (the learning rates)
of a probe column make one band. Smoothing, when asked for, is a rolling mean over steps applied to
every run the same way before the envelope is taken.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ablate.analysis import read_members

# probe -> the steps.csv columns it writes (line_search: a band from its min and max columns)
PROBE_SERIES: dict[str, list[tuple[str, str, str]]] = {
    "step_loss": [("step_loss", "step_loss", "step_loss")],
    "grad_change": [("grad_change", "grad_change", "grad_change")],
    "beta": [("beta", "beta", "beta")],
    "line_search": [
        ("loss range", "ls_loss_min", "ls_loss_max"),
        ("gradient predictiveness", "ls_grad_diff_min", "ls_grad_diff_max"),
        ("effective beta", "ls_beta_max", "ls_beta_max"),
    ],
}


def _group_label(config: Mapping, key: str) -> str:
    value: object = config
    for part in key.split("."):
        value = value[part]  # type: ignore[index]
    return str(value)


def probe_envelopes(runs_csv: Path, probe: str, group_by: str = "model", smoothing: int = 1) -> pd.DataFrame:
    """Long table: series, group, step, min, max, mean, runs (how many runs the step's envelope covers)."""
    frames = []
    for member in read_members(runs_csv).drop_duplicates("run").itertuples():
        run_dir = Path(member.run_dir)
        steps = pd.read_csv(run_dir / "steps.csv")
        group = _group_label(json.loads((run_dir / "config.json").read_text()), group_by)
        for series, low, high in PROBE_SERIES[probe]:
            if low not in steps:
                continue
            columns = list(dict.fromkeys([low, high]))  # a single-column series is its own min and max
            rows = steps[["step", *columns]].dropna(subset=[low]).copy()
            if smoothing > 1:
                rows[columns] = rows[columns].rolling(smoothing, min_periods=1).mean()
            frames.append(
                pd.DataFrame(
                    {
                        "series": series,
                        "group": group,
                        "run": member.run,
                        "step": rows["step"],
                        "low": rows[low],
                        "high": rows[high],
                    }
                )
            )
    if not frames:
        return pd.DataFrame(columns=["series", "group", "step", "min", "max", "mean", "runs"])
    values = pd.concat(frames, ignore_index=True)
    values["middle"] = (values["low"] + values["high"]) / 2
    grouped = values.groupby(["series", "group", "step"], sort=False)
    table = pd.DataFrame(
        {
            "min": grouped["low"].min(),
            "max": grouped["high"].max(),
            "mean": grouped["middle"].mean(),
            "runs": grouped["run"].nunique(),
        }
    )
    order = {name: index for index, (name, _, _) in enumerate(PROBE_SERIES[probe])}
    table = table.reset_index()
    return table.sort_values(
        ["series", "group", "step"], key=lambda c: c.map(order) if c.name == "series" else c, kind="stable"
    )
