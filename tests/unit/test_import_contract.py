"""The import contract: what may import what inside hostops (README, "Development").

    entry -> cli -> api (hostops/__init__.py, hostops/api.py) -> testing -> fleet (keeper, cluster) -> render, journal,
    playbook, inventory -> host -> models, errors, operations, credentials,
    batches, ranges, localenv, vault, redact, bulk, userconfig

A module may import its own layer and the layers below it, never above. Besides:
nothing imports the CLI; the host layer never imports the fleet's events; the inventory
never imports the host layer (connection settings are resolved there, from above).
Every import counts, those under ``if TYPE_CHECKING:`` and inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hostops

ROOT = Path(hostops.__file__).parent

LAYERS: dict[str, int] = {
    "_version": 0,
    "models": 0,
    "errors": 0,
    "operations": 0,
    "credentials": 0,
    "batches": 0,
    "ranges": 0,
    "liblog": 0,
    "safefs": 0,
    "localenv": 0,
    "vault": 0,
    "redact": 0,
    "bulk": 0,
    "userconfig": 0,  # the configuration file (the warm-run client reads it too)
    "host": 1,
    "inventory": 2,
    "playbook": 2,
    "journal": 2,
    "render": 2,
    "fleet": 3,
    "keeper": 3,
    "cluster": 3,
    "testing": 4,  # test fixtures: real sshd fleets, and the warm runs' background process stopped
    "__init__": 4,  # the public API
    "api": 4,  # its functions
    "cli": 5,
    "__main__": 6,
    "entry": 6,  # the console script: the warm client (keeper) first, else the CLI
}
# (importer's top package, imported top package): refused although the layers would allow it.
FORBIDDEN = {("inventory", "host")}


def _top(module: str) -> str:
    """hostops.fleet.engine -> fleet; hostops -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every hostops import in ``path``; ``from hostops import x`` is the API."""
    package = (
        _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    )
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("hostops")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module.startswith("hostops"):
                found.append((node.lineno, module))
    return found


def violations() -> list[str]:
    """Every import that breaks the contract, as ``file:line: importer -> imported``."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        importer = _top(_module_name(path))
        for line, module in _imports(path):
            imported = _top(module)
            where = f"{path.relative_to(ROOT.parent)}:{line}: {importer} -> {module}"
            if importer not in LAYERS or imported not in LAYERS:
                out.append(f"{where} (a package the contract does not place: add it to LAYERS)")
            elif imported in ("cli", "__main__") and importer not in ("cli", "__main__", "entry"):
                out.append(f"{where} (nothing imports the CLI)")
            elif LAYERS[imported] > LAYERS[importer] or (importer, imported) in FORBIDDEN:
                out.append(f"{where} (an upward import)")
    return out


def test_every_import_follows_the_layers() -> None:
    assert violations() == []


def test_every_package_and_module_is_placed() -> None:
    tops = {_top(_module_name(p)) for p in ROOT.rglob("*.py")}
    assert tops <= set(LAYERS), sorted(tops - set(LAYERS))


def test_the_checker_sees_an_upward_import(tmp_path: Path, monkeypatch) -> None:
    """The contract can fail: a host module importing the fleet is caught."""
    fake = tmp_path / "hostops"
    (fake / "host").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "host" / "__init__.py").write_text("")
    (fake / "host" / "bad.py").write_text(
        "from hostops.fleet.events import Output\nfrom ..cli import main\n"
    )
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    found = violations()
    assert any("host -> hostops.fleet.events (an upward import)" in v for v in found)
    assert any("host -> hostops.cli (nothing imports the CLI)" in v for v in found)


def _module_level_imports(path: Path) -> set[str]:
    """The hostops modules ``path`` imports when it is loaded: its top-level imports, not
    those under ``if TYPE_CHECKING:`` or inside functions (those run later, or never)."""
    package = (
        _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    )
    modules = {_module_name(p) for p in ROOT.rglob("*.py")}
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "finalbody", []))
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, node.module] if node.module else base)
                else:
                    module = node.module or ""
                for alias in node.names:  # `from package import submodule` loads it
                    if f"{module}.{alias.name}" in modules:
                        found.add(f"{module}.{alias.name}")
                    elif module in modules:
                        found.add(module)

    visit(ast.parse(path.read_text(), str(path)).body)
    return found


def test_no_module_imports_itself_back() -> None:
    """No import circle: no module is reached again by following what it imports."""
    graph = {_module_name(p): _module_level_imports(p) for p in ROOT.rglob("*.py")}
    circles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for nxt in graph.get(module, ()):
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert circles == []


def test_the_circle_check_sees_a_circle(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "hostops"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "a.py").write_text("from hostops import b\n")
    (fake / "b.py").write_text(
        "from typing import TYPE_CHECKING\nfrom hostops.a import x\n"
        "if TYPE_CHECKING:\n    from hostops import c\n"
    )
    (fake / "c.py").write_text("import hostops.b\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    with pytest.raises(AssertionError) as failed:
        test_no_module_imports_itself_back()
    assert "hostops.a -> hostops.b -> hostops.a" in str(failed.value)
    assert "hostops.c -> hostops.b" not in str(failed.value)  # b imports c only for typing
