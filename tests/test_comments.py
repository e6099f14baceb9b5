"""Comments that tell the truth: every `ablate.…` name, every path and every section of the README or a page of
docs/ that a comment, docstring, rule file, config or page names exists."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
from pathlib import Path

from conftest import REPO

# where people read about the code: the library, the rules and scripts, the configs, the benchmarks, the tests
SEARCHED = ("src", "workflow", "config", "bench", "tests", "Snakefile", "README.md", "docs", ".ci", "pyproject.toml")
SUFFIXES = {".py", ".smk", ".yaml", ".yml", ".j2", ".md", ".rst", ".toml", ""}
DOTTED = re.compile(r"(?<![\w./-])ablate(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
SECTION = re.compile(r"(README|docs/[\w-]+)(?:\.md)?\)?, \"?([A-Z][^\"),]*)\"?[),.]")
# files the text names as what a command will write: bench/gpu.py's tables, once a GPU has run it
TO_BE_WRITTEN = {"bench/RESULTS.md"}
PATH = re.compile(r"(?<![\w./-])((?:src/ablate|workflow|config|bench|tests|docs)/[\w./-]*\w)")


def texts() -> list[tuple[str, str]]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *SEARCHED],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    files = [REPO / name for name in listed if (REPO / name).is_file() and Path(name).suffix in SUFFIXES]
    return [(str(f.relative_to(REPO)), f.read_text()) for f in files if f.name != Path(__file__).name]


def resolves(dotted: str) -> bool:
    """A module, or an attribute of one (a function, class or constant), e.g. ablate.plan.runs.make_plan."""
    parts = dotted.split(".")
    if parts[-1] == "__main__":  # importing it would run the command line
        return importlib.util.find_spec(dotted) is not None
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def test_every_ablate_name_in_the_text_exists():
    named = {(where, match) for where, text in texts() for match in DOTTED.findall(text)}
    missing = sorted((match, where) for where, match in named if not resolves(match.rstrip(".")))
    assert not missing, missing


def test_every_path_in_the_text_exists():
    named = {(where, match) for where, text in texts() for match in PATH.findall(text)}
    # patterns with wildcards ({run}, <study>, *) and the tests' own generated files are not paths to check
    plain = {(w, m) for w, m in named if not re.search(r"[{}<>*]", m) and "tmp" not in m}
    plain = {(w, m) for w, m in plain if m not in TO_BE_WRITTEN}
    missing = sorted((m, w) for w, m in plain if not (REPO / m).exists())
    assert not missing, missing


def headings(page: str) -> set[str]:
    path = REPO / ("README.md" if page == "README" else f"{page}.md")
    lines = path.read_text().splitlines() if path.exists() else []
    return {line.lstrip("#").strip() for line in lines if line[:1] == "#"}


def test_every_cited_section_exists():
    cited = {
        (where, page, " ".join(section.split())) for where, text in texts() for page, section in SECTION.findall(text)
    }
    missing = sorted((f"{page}: {section}", where) for where, page, section in cited if section not in headings(page))
    assert not missing, missing


def test_the_readme_is_read_in_minutes_and_links_every_page_of_docs():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250  # the depth belongs to docs/
    pages = sorted(path.relative_to(REPO).as_posix() for path in (REPO / "docs").glob("*.md"))
    assert len(pages) >= 3
    assert [page for page in pages if f"]({page})" not in readme] == []
