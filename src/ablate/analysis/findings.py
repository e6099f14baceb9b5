"""What the runs show: one verdict per claim, from its evidence, by one set of rules (the report's section "What
the runs show" states them in words, from MIN_SEEDS and the verdicts here). Torch- and pandas-free: the workflow
reads `findings_inputs` at parse time; ablate.analysis.claims measures the evidence.

The rules:
- Evidence is, per group (e.g. VGG-A and VGG-A-BN), one value per seed (or per run, where a study has one run per
  seed and model): a number, or an interval where a probe certifies the measure only to one (λ_max: [θ, θ + r],
  the residual's; the trace: ± its standard error). Values that are not finite (a diverged run) do not count.
- A group's band is its mean ± its sample standard deviation (n − 1), widened to the intervals' ends:
  [mean of the lower ends − sd, mean of the upper ends + sd].
- "holds" or "does not hold" only where both groups have at least MIN_SEEDS values, every probe behind them
  converged, and the two bands do not overlap; the side the claimed group's band lies on decides which.
- Otherwise "not established", with the first reason that applies: too few seeds, unconverged probes, bands that
  overlap (seed spreads, or probe intervals where the intervals alone make them overlap).
- A claim that one group is best of several holds where it holds against each other group, does not hold where
  another group's band lies beyond it, and is not established otherwise.
- A config that is not the full study (generated data, narrow models, fewer epochs): "not established", toy data,
  with what the rules say on its numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ablate import registry

MIN_SEEDS = 3
HOLDS, FAILS, OPEN = "holds", "does not hold", "not established"
CLAIMS_PATH = Path(__file__).with_name("claims.yaml")


@dataclass(frozen=True)
class Evidence:
    """One group's values of a measure: (low, high) per seed, equal ends for a plain number; `converged`: whether
    every probe behind them met its tolerance."""

    values: tuple[tuple[float, float], ...]
    converged: bool = True

    @classmethod
    def of(cls, values: Iterable[float | tuple[float, float]], converged: bool = True) -> Evidence:
        pairs = [(v, v) if not isinstance(v, tuple) else v for v in values]
        kept = tuple((float(lo), float(hi)) for lo, hi in pairs if math.isfinite(lo) and math.isfinite(hi))
        return cls(kept, converged)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean((lo + hi) / 2 for lo, hi in self.values) if self.values else math.nan

    @property
    def sd(self) -> float:
        return statistics.stdev((lo + hi) / 2 for lo, hi in self.values) if self.n > 1 else 0.0

    @property
    def interval(self) -> bool:
        return any(hi > lo for lo, hi in self.values)

    def band(self, spread: bool = True) -> tuple[float, float]:
        """[mean of lower ends − sd, mean of upper ends + sd] (without `spread`: the intervals' ends only)."""
        sd = self.sd if spread else 0.0
        return statistics.fmean(v[0] for v in self.values) - sd, statistics.fmean(v[1] for v in self.values) + sd

    def text(self) -> str:
        """mean ± sd (n), or the one value (n = 1), or — (none)."""
        if not self.values:
            return "—"
        if self.n == 1:
            lo, hi = self.values[0]
            return f"{lo:.4g}" if lo == hi else f"[{lo:.4g}, {hi:.4g}] (1)"
        return f"{self.mean:.4g} ± {self.sd:.2g} ({self.n})"


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str = ""


def _apart(a: Evidence, b: Evidence) -> bool:
    (a_low, a_high), (b_low, b_high) = a.band(), b.band()
    return a_high < b_low or b_high < a_low


def compare(claimed: Evidence, other: Evidence, direction: str, toy: str = "") -> Verdict:
    """The claim that `claimed`'s values are `direction` ("lower" or "higher") than `other`'s, by the rules."""
    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be lower or higher, not {direction!r}")
    found = _rules(claimed, other, direction)
    return _toy(found) if toy else found


def _rules(claimed: Evidence, other: Evidence, direction: str) -> Verdict:
    if min(claimed.n, other.n) < MIN_SEEDS:
        return Verdict(OPEN, f"too few seeds (n = {claimed.n} and {other.n}; the rules need {MIN_SEEDS} each)")
    if not (claimed.converged and other.converged):
        return Verdict(OPEN, "unconverged probes (a value is a bound only)")
    if not _apart(claimed, other):
        alone = claimed.interval or other.interval
        spreads_apart = alone and not _overlap(claimed.band(spread=False), other.band(spread=False))
        what = "seed spreads overlap" if not alone or spreads_apart else "probe intervals overlap"
        return Verdict(OPEN, what)
    below = claimed.band()[1] < other.band()[0]
    return Verdict(HOLDS if below == (direction == "lower") else FAILS)


def _toy(found: Verdict) -> Verdict:
    """On toy data nothing is established; the reason keeps what the rules say on its numbers (the report's banner
    names how the config departs from the full study)."""
    said = found.verdict + (f": {found.reason}" if found.reason else "")
    return Verdict(OPEN, f"toy data; on these numbers the rules say {said}")


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return not (a[1] < b[0] or b[1] < a[0])


def best_of(claimed: Evidence, others: Mapping[str, Evidence], direction: str, toy: str = "") -> Verdict:
    """The claim that `claimed` is the best of all groups (the lowest or the highest), by the rules."""
    each = {name: _rules(claimed, other, direction) for name, other in others.items()}
    if each and all(v.verdict == HOLDS for v in each.values()):
        found = Verdict(HOLDS)
    elif beaten := [name for name, v in each.items() if v.verdict == FAILS]:
        found = Verdict(FAILS, f"{', '.join(beaten)} apart on the other side")
    else:
        found = next((Verdict(OPEN, f"against {n}: {v.reason}") for n, v in each.items() if v.verdict == OPEN), None)
        found = found or Verdict(OPEN, "no other group")
    return _toy(found) if toy else found


def claims() -> list[dict]:
    """The claims of claims.yaml, in the report's order."""
    with CLAIMS_PATH.open() as handle:
        return registry.load_yaml(handle)["claims"]


def findings_inputs(spec: Mapping) -> tuple[list[str], list[str]]:
    """(the studies the claims read that the report's spec has, the section-2.6 summaries of theirs that they
    read: the Hessian density's and the surface's)."""
    wanted = {claim["study"] for claim in claims()}
    studies = [study for study in spec["studies"] if study["name"] in wanted]
    analyses = [
        shown["file"]
        for study in studies
        for shown in (study["curvature"] or {"shown": []})["shown"]
        if shown["id"] in ("density_summary", "surface_summary")
    ]
    return [study["name"] for study in studies], analyses
