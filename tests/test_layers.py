"""The library's imports run down the stages, never back up: a module imports only from its own stage or the
stages before it (the order of the workflow's rule files). The check reads every import statement, those
inside functions included, so a lazy import cannot hide an arrow running back up."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"
# stage -> its rank; a module may import modules of its own rank or below
STAGES = {
    "ablate": 0,  # ablate/__init__.py: the training-code version
    "ablate.errors": 0,
    "ablate.registry": 0,
    "ablate.exhibits": 0,  # what the report shows: the plan asks it which model family an exhibit's run must train
    "ablate.rundir": 0,
    "ablate.durations": 0,
    "ablate.datasources": 0,  # the registry's dataset entries hold their source objects
    "ablate.references": 0,  # "module:attribute" names of functions, for the registry and the data sources
    "ablate.trajectory": 0,  # what a run's identity is and what its members read: the plan, training, analyses
    "ablate.plan": 1,
    "ablate.execution": 2,
    "ablate.data": 3,
    "ablate.training": 4,
    "ablate.analysis": 5,
    "ablate.report": 6,
    "ablate.status": 7,  # the commands people run, over every stage
    "ablate.listing": 7,
    "ablate.cli": 7,
    "ablate.__main__": 7,
}


def stage(module: str) -> str:
    return max((name for name in STAGES if module == name or module.startswith(name + ".")), key=len)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "ablate" or name.startswith("ablate.")}


def arrows() -> set[tuple[str, str]]:
    """(importer, imported module) over the whole library."""
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    edges = set()
    for path in SRC.rglob("*.py"):
        for target in imports(path):
            # `from <package> import y`: y is a module where one exists, else a name in the package
            edges.add((module_name(path), target if target in modules else target.rsplit(".", 1)[0]))
    return edges


def test_every_module_belongs_to_a_stage():
    assert all(stage(module_name(p)) for p in SRC.rglob("*.py"))


def test_no_import_runs_back_up_the_stages():
    upward = sorted(
        (importer, imported) for importer, imported in arrows() if STAGES[stage(imported)] > STAGES[stage(importer)]
    )
    assert not upward, upward


def test_the_plan_draws_no_report_and_training_reads_no_command():
    edges = arrows()
    assert not [e for e in edges if e[0].startswith("ablate.plan") and e[1].startswith("ablate.report")]
    assert not [e for e in edges if e[0].startswith("ablate.training") and e[1] == "ablate.status"]
    assert not [
        e
        for e in edges
        if e[0].startswith("ablate.execution") and stage(e[1]) != "ablate.execution" and STAGES[stage(e[1])] > 0
    ]


def test_the_import_graph_has_no_circle():
    """No module reaches itself through imports, lazy ones included (a circle hides in a function's import)."""
    graph: dict[str, set[str]] = {}
    for importer, imported in arrows():
        if importer != imported:
            graph.setdefault(importer, set()).add(imported)
    done: set[str] = set()

    def circle_from(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            found = circle_from(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        circle = circle_from(module, [])
        assert circle is None, " -> ".join(circle)
