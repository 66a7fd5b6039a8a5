"""The layers of `src/tenku` (docs/architecture.md): every import points down.

A module may import from its own top-level package and from packages on lower floors;
never from a higher floor, nor sideways from another package on its own floor. Imports
are read with `ast`, including those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Top floor first. Entry points compose everything below them.
FLOORS: tuple[tuple[str, frozenset[str]], ...] = (
    ("entry points", frozenset({"tenku.cli", "tenku.serving", "tenku.app", "tenku.asgi"})),
    ("runtime", frozenset({"tenku.runtime"})),
    ("Data API", frozenset({"tenku.data_api"})),
    ("HTTP services", frozenset({"tenku.resources", "tenku.router"})),
    ("log store", frozenset({"tenku.logs"})),
    ("web conventions", frozenset({"tenku.web"})),
    (
        "providers",
        frozenset(
            {
                "tenku.addons",
                "tenku.storage",
                "tenku.tls",
                "tenku.buildpacks",
                "tenku.mail",
                "tenku.sms",
            }
        ),
    ),
    ("data", frozenset({"tenku.db", "tenku.security"})),
    (
        "helpers",
        frozenset(
            {
                "tenku.ids",
                "tenku.names",
                "tenku.nudge",
                "tenku.loops",
                "tenku.privacy",
                "tenku.egress",
                "tenku.children",
            }
        ),
    ),
    ("settings", frozenset({"tenku", "tenku.config"})),
)

# Entry points may start one another; nothing else goes sideways.
ALLOWED = {
    ("tenku.asgi", "tenku.app"): "the ASGI entry point serves create_app()",
    ("tenku.serving", "tenku.app"): "each API worker serves create_app()",
    ("tenku.cli", "tenku.serving"): "`tenku up` starts the listeners",
}


def unit_of(module: str) -> str:
    """The package (or top-level module) `module` belongs to: `tenku.<first part>`."""
    parts = module.split(".")
    return ".".join(parts[:2])


def floor_of(unit: str) -> int:
    for number, (_, units) in enumerate(FLOORS):
        if unit in units:
            return number
    raise AssertionError(f"{unit} is on no floor: add it to FLOORS and docs/architecture.md")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "tenku":
                # `from tenku import nudge` imports the module tenku.nudge.
                found += [(node.lineno, f"tenku.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name == "tenku" or name.startswith("tenku.")]


def sources() -> list[Path]:
    return sorted((SRC / "tenku").rglob("*.py"))


def violations() -> list[str]:
    problems = []
    for path in sources():
        module = module_name(path)
        if module.startswith("tenku.db.migrations"):
            continue
        own = unit_of(module)
        own_floor = floor_of(own)
        for line, target in imported(path, module):
            unit = unit_of(target)
            if unit == own or (own, unit) in ALLOWED:
                continue
            floor = floor_of(unit)
            if floor < own_floor:
                where = f"{path.relative_to(SRC)}:{line}"
                problems.append(
                    f"{where} imports {target} from the {FLOORS[floor][0]} floor, "
                    f"above {own} on the {FLOORS[own_floor][0]} floor"
                )
            elif floor == own_floor and unit != "tenku":
                where = f"{path.relative_to(SRC)}:{line}"
                problems.append(f"{where} imports {target} sideways, from its own floor")
    return problems


def test_every_import_points_down() -> None:
    assert violations() == []


def test_every_package_is_on_a_floor() -> None:
    for path in sources():
        floor_of(unit_of(module_name(path)))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tenku.runtime.scheduler import Backend\n", "above"),
        ("from tenku import runtime\n", "above"),
        ("def f():\n    from tenku.cli import main\n", "above"),
        ("from tenku.resources.app import service\n", "sideways"),
        ("from .. import runtime\n", "above"),
        ("from ..resources import common\n", "sideways"),
        ("from tenku.web.errors import NotFound\n", None),
    ],
)
def test_the_check_catches_an_upward_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str | None
) -> None:
    fake_src = tmp_path / "src"
    package = fake_src / "tenku" / "router"
    package.mkdir(parents=True)
    (fake_src / "tenku" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.SRC", fake_src)
    found = violations()
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1, found
        assert expected in found[0]
        assert found[0].startswith("tenku/router/bad.py:")
