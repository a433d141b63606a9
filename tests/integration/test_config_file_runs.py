"""The configuration file in real runs: found at its default place
(``$XDG_CONFIG_HOME/hostops/config.toml``), its settings used by the commands, and its
``persist`` making them warm, proven from the server side (sshd's log of logins)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import run_hostops


def _config(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "hostops" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_files_inventory_output_and_persist_are_used(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:3]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    _config(f'inventory = "{inv}"\noutput = "json"\npersist = "5m"\n')
    before = [h.logins() for h in hosts]
    runs = [run_hostops("run", "echo", word) for word in ("one", "two")]
    for done in runs:
        assert done.returncode == 0, done.stderr
    results = [[json.loads(line) for line in r.stdout.splitlines()] for r in runs]
    assert [sorted(r["host"] for r in rs) for rs in results] == [[h.name for h in hosts]] * 2
    assert {r["stdout"] for r in results[1]} == {"two\n"}
    assert [{r["reused"] for r in rs} for rs in results] == [{False}, {True}]
    assert [h.logins() - b for h, b in zip(hosts, before, strict=True)] == [1, 1, 1]

    # the command line outranks the file: cold, and another view
    cold = run_hostops("run", "--no-persist", "-o", "quiet", "true")
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout == ""
    assert [h.logins() - b for h, b in zip(hosts, before, strict=True)] == [2, 2, 2]


def test_a_broken_file_stops_every_command_before_it_runs(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:1])
    path = _config('persist = "5m"\nforks = 0\n')
    before = sshd_fleet.hosts[0].logins()
    done = run_hostops("run", "true", "--hosts", str(inv))
    assert done.returncode == 2
    assert done.stderr == f"hostops: error: {path}:2: forks: must be at least 1\n"
    assert sshd_fleet.hosts[0].logins() == before
