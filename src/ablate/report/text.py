"""The report's words that code puts together, from text.yaml (no torch: the banner's are read at parse time)."""

from __future__ import annotations

from pathlib import Path

from ablate import registry

TEXT_PATH = Path(__file__).with_name("text.yaml")

with TEXT_PATH.open() as _handle:
    TEXT: dict = registry.load_yaml(_handle)


def probe_caption(probe: str, number: str) -> str:
    """The caption of a probe's figure numbered `number` (ablate/exhibits.yaml; "": none) and, where that is one
    of the original's figures, what the original shows."""
    entry = registry.PROBES[probe]
    if not number:
        return entry.caption
    formats = TEXT["probe_caption"]
    original = number.startswith("Figure ") and entry.published
    return formats["of_the_original" if original else "numbered"].format(
        number=number, caption=entry.caption, published=entry.published
    )
