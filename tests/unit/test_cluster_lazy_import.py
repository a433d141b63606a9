"""Without a cluster, Dask is never imported: every module of hostops but the one that
connects (hostops.cluster.connect) loads without it, and so does a command that ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hostops

ROOT = Path(hostops.__file__).parent

_PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from hostops.cli import main
code = main(["inventory", "-H", "web[01-03]"])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("distributed", "dask"))
print("LOADED", code, loaded)
"""


def _modules() -> list[str]:
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if name not in ("hostops.cluster.connect", "hostops.__main__", "hostops.testing.__main__"):
            names.append(name)
    return names


def test_nothing_but_the_connecting_module_imports_dask() -> None:
    modules = _modules()
    assert "hostops.cluster.shards" in modules and "hostops.cli.cluster" in modules
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "LOADED 0 []"


def test_the_probe_sees_dask_when_it_is_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "hostops.cluster.connect"],
        capture_output=True,
        text=True,
        check=True,
    )
    last = done.stdout.splitlines()[-1]
    assert last.startswith("LOADED 0 [") and "'distributed'" in last
