"""What hostops's quick commands import: none of the heavy libraries that only a run needs.

Each case runs a command line in a fresh interpreter through a small wrapper that calls
its entry point and then writes down every module loaded. A case is one line of
``CASES``: the entry point (``module:function``, called with the arguments) and the
arguments. The speed itself is measured in benchmarks/bench_startup.py, never here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hostops

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "inventory.example.yaml"
# What only a run (or a playbook, or a vault) needs: a quick command must not pay for them.
HEAVY = ("paramiko", "jinja2", "cryptography", "multiprocessing")
CLI = (
    "hostops.entry:main"  # the console script's (pyproject's [project.scripts]: console() runs it)
)

CASES = [
    pytest.param(CLI, ["--version"], id="--version"),
    pytest.param(CLI, ["--help"], id="--help"),
    pytest.param(CLI, [], id="no-arguments"),
    pytest.param(CLI, ["run", "--help"], id="run --help"),
    pytest.param(CLI, ["play", "--help"], id="play --help"),
    pytest.param(CLI, ["inventory", "--hosts", str(EXAMPLE)], id="inventory"),
    pytest.param(CLI, ["inventory", "--hosts", str(EXAMPLE), "--json"], id="inventory --json"),
    pytest.param(CLI, ["inventory", "--hosts", str(EXAMPLE), "--graph"], id="inventory --graph"),
    pytest.param(CLI, ["history"], id="history"),
    pytest.param(CLI, ["history", "--json"], id="history --json"),
    pytest.param(CLI, ["report", "--help"], id="report --help"),
    # The thin client of a warm run: it hands the command to the background process
    # (started here on demand, in the test's private runtime directory).
    pytest.param(
        "hostops.keeper.client:main",
        ["run", "--persist", "1m", "true", "--hosts", str(EXAMPLE), "-l", "no-such-host"],
        id="warm client",
    ),
]

# Runs ENTRY(ARGS), then writes the names of the loaded modules to OUT, whatever happened.
_WRAPPER = """
import importlib, json, sys
entry, args, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
module, _, function = entry.partition(":")
try:
    code = getattr(importlib.import_module(module), function)(args)
except SystemExit as exc:
    code = exc.code
finally:
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)
print("exit", code, file=sys.stderr)
"""


def loaded_modules(entry: str, args: list[str], tmp_path: Path) -> tuple[set[str], str]:
    """Every module ``entry(args)`` has loaded when it returns, in a fresh interpreter
    with an empty home and state directory; and its stderr."""
    out = tmp_path / "modules.json"
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    for name in ("HOSTOPS_INVENTORY", "SSH_AUTH_SOCK", "HOSTOPS_DEBUG"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, entry, json.dumps(args), str(out)],
        env=env,
        cwd=tmp_path,
        check=False,  # the command's own exit code is the case's business
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.exists(), done.stderr
    return set(json.loads(out.read_text())), done.stderr


def heavy(modules: set[str]) -> list[str]:
    """The heavy libraries among ``modules`` (a package counts by any of its modules)."""
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


@pytest.mark.parametrize(("entry", "args"), CASES)
def test_a_quick_command_imports_no_heavy_library(
    entry: str, args: list[str], tmp_path: Path
) -> None:
    modules, stderr = loaded_modules(entry, args, tmp_path)
    assert "hostops" in modules, stderr  # the command really ran hostops
    assert heavy(modules) == [], stderr


def test_the_quick_version_is_the_command_lines() -> None:
    """``hostops --version`` answered before typer loads says what the typer root's
    --version says (hostops.cli.main parses it with typer)."""
    quick = subprocess.run(
        [sys.executable, "-m", "hostops", "--version"], capture_output=True, text=True, check=True
    )
    parsed = subprocess.run(
        [sys.executable, "-c", "from hostops.cli import main; main(['--version'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert quick.stdout == parsed.stdout == f"hostops {hostops.__version__}\n"


def test_the_commands_really_ran(tmp_path: Path) -> None:
    """The cases are not vacuous: the inventory case read the inventory, the history
    case the records' directory."""
    modules, stderr = loaded_modules(CLI, ["inventory", "--hosts", str(EXAMPLE)], tmp_path)
    assert {"hostops.inventory", "hostops.cli.commands", "yaml"} <= modules, stderr
    assert "exit 0" in stderr
    modules, stderr = loaded_modules(CLI, ["history"], tmp_path)
    assert "hostops.journal" in modules, stderr
    assert "exit 0" in stderr


def test_a_local_run_loads_no_paramiko(tmp_path: Path) -> None:
    """A run on a `connection: local` host (the example inventory's) needs the fleet
    (multiprocessing) but no SSH: paramiko and cryptography stay unloaded."""
    modules, stderr = loaded_modules(CLI, ["run", "true", "--hosts", str(EXAMPLE)], tmp_path)
    assert "exit 0" in stderr
    assert "hostops.fleet.engine" in modules, stderr
    assert heavy(modules) == ["multiprocessing"], stderr
    # Nor does it load what only a cluster run or an address pattern needs.
    assert "hostops.cluster.address" not in modules, stderr


def test_a_local_client_works_without_paramiko(tmp_path: Path) -> None:
    """HostClient on a `connection: local` host, through every method that asks whether
    its connection is an SSH one (the SSH classes are imported where used): it runs,
    refuses what needs SSH, parks and is not adopted, and paramiko is never loaded."""
    script = (
        "import sys\n"
        "from hostops import Command, Host, HostClient, RunOptions, Transport, Upload, connect\n"
        "from hostops.host.ssh import SshContext\n"
        "host = Host('here', 'localhost', connection=Transport.LOCAL)\n"
        "client = HostClient(host, options=RunOptions(lock='x'))\n"
        "print(client.perform(Command('true'), lambda s, d: None).error)\n"
        "client = connect(host)\n"
        "outcome, out, _ = client.run('echo hi')\n"
        "print(outcome.status.value, out.decode().strip())\n"
        "print(client.perform(Upload('/etc/hostname', '/tmp/x'), lambda s, d: None).error)\n"
        "context = SshContext(RunOptions(), print)\n"
        "client.detach(context)\n"
        "print(client.adopt(context))\n"
        "client.close()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'paramiko', 'cryptography'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.splitlines() == [
        "--lock needs an SSH connection, not connection: local",
        "ok hi",
        "file transfers need an SSH connection, not connection: local",
        "False",
        "[]",
    ], done.stderr


def test_the_check_sees_a_heavy_import(tmp_path: Path) -> None:
    """The check can fail: an entry point that imports multiprocessing is caught."""
    (tmp_path / "greedy.py").write_text(
        "def main(args):\n    import multiprocessing.connection\n    return 0\n"
    )
    modules, _ = loaded_modules("greedy:main", [], tmp_path)
    assert heavy(modules) == ["multiprocessing"]


def test_paramiko_loads_without_invoke_until_it_is_used(tmp_path: Path) -> None:
    """The host layer defers invoke (paramiko's config imports it for Match exec, which
    hostops does not use): importing the SSH layer leaves it unloaded, and paramiko's
    Match exec still finds the real invoke when it is used."""
    script = (
        "import sys\n"
        "import hostops.host.ssh, hostops.host.sftp, paramiko.config\n"
        "print('invoke.tasks' in sys.modules)\n"
        "print(paramiko.config.invoke.run.__module__)\n"
        "import invoke.tasks\n"
        "from invoke import Context\n"
        "print(type(sys.modules['invoke']).__name__, Context.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "invoke", "module", "invoke.context"]


@pytest.mark.parametrize(
    "words",
    [
        "hostops ",
        "hostops run --host-key-policy ",
        f"hostops run -i {EXAMPLE} -l ",
        "hostops show ",
    ],
)
def test_completing_imports_no_heavy_library(
    words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Tab (hostops completion's script calling hostops back) loads none of them, even
    when it reads the inventory or the records."""
    monkeypatch.setenv("_HOSTOPS_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    modules, stderr = loaded_modules(CLI, [], tmp_path)
    assert "hostops.cli.completion" in modules, stderr
    if "-l" in words:
        assert "hostops.inventory" in modules, stderr
    assert heavy(modules) == [], stderr


def test_the_warm_client_reads_the_configuration_file_with_the_standard_library(
    tmp_path: Path,
) -> None:
    """``persist`` in the configuration file is read before the command line loads: the
    thin client's check imports no typer, no YAML, no CLI and nothing heavy."""
    config = tmp_path / "config.toml"
    config.write_text('persist = "10m"\n')
    script = (
        "import sys\n"
        "from hostops.keeper.persist import wanted\n"
        f"print(wanted(['run', 'true'], {{'HOSTOPS_CONFIG': {str(config)!r}}}))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'typer', 'yaml', 'paramiko', 'jinja2', 'cryptography', 'multiprocessing'}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('hostops.cli')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.splitlines() == ["600.0", "[]", "[]"], done.stderr


def test_a_warm_command_given_persist_loads_only_what_handing_it_over_needs() -> None:
    """With ``--persist`` (or HOSTOPS_PERSIST) given, the thin client does not read the
    configuration file (its reader checks values against the result model) and loads
    neither hashlib (OpenSSL) nor subprocess nor tempfile: each warm command pays its
    client's start-up (speed: benchmarks/bench_warm.py)."""
    script = (
        "import sys\n"
        "import hostops.keeper.client\n"
        "from hostops.keeper import paths, persist\n"
        "print(persist.wanted(['run', '--persist', '1m', 'true'], {}))\n"
        "print(persist.wanted(['run', 'true'], {'HOSTOPS_PERSIST': '2m'}))\n"
        "paths.code_stamp()\n"
        "print(sorted(set(sys.modules) & {'hostops.userconfig', 'hostops.models',"
        " 'hashlib', 'subprocess', 'tempfile'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.stdout.splitlines() == ["60.0", "120.0", "[]"], done.stderr
