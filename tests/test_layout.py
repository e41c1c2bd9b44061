"""The packages' imports point one way: the kernel at the bottom, the composition root at the top.

simulators → MQTT → ingest → store/geofence → alerts → api/maps, customs feeding transits; sealwatch/
is the kernel every stage may import and launcher/ the composition root no stage imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

KERNEL = "sealwatch"
# What each package may import besides the kernel and itself.
ALLOWED: dict[str, set[str]] = {
    "sealwatch": set(),
    "store": set(),
    "ingest": {"store"},
    "geofence": {"store"},
    "customs": {"store"},
    "alerts": {"store", "geofence", "customs"},
    "maps": {"store", "geofence", "alerts", "customs"},
    "api": {"store", "ingest", "geofence", "alerts", "customs", "maps"},
    "simulators": {"store"},
}
PROJECT = {*ALLOWED, "launcher", "bench", "tests"}


def imported_packages(package: str) -> dict[str, set[str]]:
    """Project packages imported anywhere in ``package``, with the files that import each."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in PROJECT and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_lies_below_it(package: str) -> None:
    allowed = ALLOWED[package] | ({KERNEL} if package != KERNEL else set())
    wrong = {dep: files for dep, files in imported_packages(package).items() if dep not in allowed}
    assert not wrong, f"{package}/ imports {wrong}"


def test_the_dependency_table_has_no_cycle() -> None:
    seen: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, f"cycle: {' → '.join((*path, package))}"
        if package in seen:
            return
        for dep in ALLOWED[package]:
            visit(dep, (*path, package))
        seen.add(package)

    for package in ALLOWED:
        visit(package, ())
