"""Functions named as "module:attribute" (registry.yaml's entries, a data source's loaders), imported only when
they are used: what names them stays torch-free at parse time."""

from __future__ import annotations

import importlib
from typing import Any


def import_reference(reference: str) -> Any:
    """The object a "module:attribute" reference names."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)
