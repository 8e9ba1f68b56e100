"""No two modules of ours import each other, not even inside a function: what both need has a
home below both, so that every pair points one way (a lazy import only hides a cycle)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kcolors", "web", "worker", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> set[str]:
    """Our modules that `path` imports anywhere in it (`from a import b` counts `a.b` when it
    is a module, else `a`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules
            found |= submodules or {node.module}
    return found & modules


def test_no_two_modules_import_each_other():
    paths = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    modules = {module_name(p) for p in paths}
    imports = {module_name(p): imported(p, modules) for p in paths}
    assert len(imports) > 60
    pairs = sorted(
        (a, b)
        for a, b in itertools.combinations(sorted(imports), 2)
        if b in imports[a] and a in imports[b]
    )
    assert pairs == [], pairs
