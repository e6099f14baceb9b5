"""The report's words that code puts together, from text.yaml (no torch: the banner's are read at parse time)."""

from __future__ import annotations

from pathlib import Path

from ablate import registry

TEXT_PATH = Path(__file__).with_name("text.yaml")

with TEXT_PATH.open() as _handle:
    TEXT: dict = registry.load_yaml(_handle)


def probe_caption(probe: str, study_figure: str) -> str:
    """The caption of a probe figure of the study whose curves are `study_figure`: its number there (the probe's
    `figures` in ablate/registry.yaml; none for a study not listed) and, where it is one of the original's
    figures, what the original shows."""
    entry = registry.PROBES[probe]
    number = entry.figures.get(study_figure)
    if number is None:
        return entry.caption
    formats = TEXT["probe_caption"]
    original = number.startswith("Figure ") and entry.published
    return formats["of_the_original" if original else "numbered"].format(
        number=number, caption=entry.caption, published=entry.published
    )
