"""Each third-party library with a home is imported there only (ruff's banned-api bans it
elsewhere; this test also keeps the homes from importing each other's)."""

from __future__ import annotations

import ast
from pathlib import Path

import hostops

ROOT = Path(hostops.__file__).parent
HOMES = {
    "paramiko": "host",
    "typer": "cli",
    "click": "cli",
    "rich": "render",
    "distributed": "cluster",
    "dask": "cluster",
}


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def misplaced(root: Path = ROOT) -> list[str]:
    """``file: library`` for every import of a library outside its home package."""
    out = []
    for path in sorted(root.rglob("*.py")):
        package = path.relative_to(root).parts[0]
        for library in sorted(_imported(path) & set(HOMES)):
            if package != HOMES[library]:
                out.append(f"{path.relative_to(root.parent)}: {library}")
    return out


def test_every_library_is_imported_in_its_home_only() -> None:
    assert misplaced() == []


def test_the_check_sees_a_misplaced_import(tmp_path: Path) -> None:
    (tmp_path / "render").mkdir()
    (tmp_path / "render" / "console.py").write_text("import rich\nfrom paramiko import SSHClient\n")
    assert misplaced(tmp_path) == [f"{tmp_path.name}/render/console.py: paramiko"]
