"""The BatchNorm analyses (original report 2.2-2.4; Santurkar et al. 2018, Fig. 4): per-step bands.

For a study whose runs carry probes, the runs are grouped by one config key (the model: VGG-A with and
without BatchNorm). Figures 13-15 are the original's envelopes: at every step, the min, max and mean over
a group's runs (its learning rates) of a per-step probe make one band per group. The line search is
Santurkar's measurement of the landscape around each run's own trajectory: its band is the range over the
step sizes c at one step of one run, so it gets one band per variant (a learning rate), never pooled across
learning rates (pooling would mostly show how far apart the runs are). Smoothing, when asked for, is a
rolling mean over steps applied to every run the same way first.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ablate import registry
from ablate.analysis.members import StudyRuns, longest_members

COLUMNS = ["series", "group", "band", "step", "min", "max", "mean", "runs"]


def group_label(config: Mapping, key: str) -> str:
    value: object = config
    for part in key.split("."):
        value = value[part]  # type: ignore[index]
    return str(value)


def probe_envelopes(study: StudyRuns, probe: str, group_by: str = "model", smoothing: int = 1) -> pd.DataFrame:
    """Long table: series, group, band, step, min, max, mean, runs (how many runs the step's band covers).

    `band` is the group itself, or for probes whose registry entry says `band: variant` (line_search) the variant
    within the group; a probe's series and the columns of their bands are its registry entry's.
    """
    frames = []
    entry = registry.PROBES[probe]
    for member in longest_members(study).itertuples():
        steps = study.steps(member.run, member.epochs)
        group = group_label(study.config(member.run, member.epochs), group_by)
        # seeds of one variant share its band
        band = str(member.variant) if entry.band == "variant" else group
        for series, (low, high) in entry.series.items():
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
                        "band": band,
                        "run": member.run,
                        "step": rows["step"],
                        "low": rows[low],
                        "high": rows[high],
                    }
                )
            )
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    values = pd.concat(frames, ignore_index=True)
    values["middle"] = (values["low"] + values["high"]) / 2
    grouped = values.groupby(["series", "group", "band", "step"], sort=False)
    table = pd.DataFrame(
        {
            "min": grouped["low"].min(),
            "max": grouped["high"].max(),
            "mean": grouped["middle"].mean(),
            "runs": grouped["run"].nunique(),
        }
    )
    order = {name: index for index, name in enumerate(entry.series)}
    table = table.reset_index()
    return table.sort_values(
        ["series", "group", "band", "step"],
        key=lambda c: c.map(order) if c.name == "series" else c,
        kind="stable",
    )[COLUMNS]
