"""hostops.load_inventory resolves hosts as the command line does: ssh_config included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hostops
from hostops.cli import main

INVENTORY = "hosts:\n  web1:\n  web2:\n    port: 2200\n"
CONFIG = "Host web*\n  User fromconfig\n  Port 2222\n"


@pytest.fixture
def files(isolated_home: Path, tmp_path: Path) -> tuple[Path, Path]:
    """An inventory and a ~/.ssh/config (in the test's own HOME) that sets its hosts."""
    (isolated_home / ".ssh").mkdir()
    config = isolated_home / ".ssh" / "config"
    config.write_text(CONFIG)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY)
    return inventory, config


def _cli(capfd: pytest.CaptureFixture[str], *argv: str) -> list[tuple[str, str | None, int]]:
    assert main(["inventory", "--json", *argv]) == 0
    hosts = json.loads(capfd.readouterr().out)["hosts"]
    return [(name, h["user"], h["port"]) for name, h in hosts.items()]


def _api(hosts: list[hostops.Host]) -> list[tuple[str, str | None, int]]:
    return [(h.name, h.user, h.port) for h in hosts]


def test_the_default_reads_ssh_config_as_the_cli_does(files, capfd) -> None:
    inventory, _ = files
    hosts = hostops.load_inventory(inventory)
    assert _api(hosts) == [("web1", "fromconfig", 2222), ("web2", "fromconfig", 2200)]
    assert _api(hosts) == _cli(capfd, "--hosts", str(inventory))


def test_none_or_a_file_as_the_cli_s_options(files, tmp_path, capfd) -> None:
    inventory, _ = files
    bare = hostops.load_inventory(inventory, ssh_config=False)
    assert _api(bare) == [("web1", None, 22), ("web2", None, 2200)]
    assert _api(bare) == _cli(capfd, "--hosts", str(inventory), "--no-ssh-config")
    assert hostops.load_inventory(inventory, ssh_config=None) == bare
    other = tmp_path / "other_config"
    other.write_text("Host web1\n  User other\n")
    chosen = hostops.load_inventory(inventory, ssh_config=other, limit="web1")
    assert _api(chosen) == [("web1", "other", 22)]
    assert _api(chosen) == _cli(
        capfd, "--hosts", str(inventory), "--ssh-config", str(other), "--limit", "web1"
    )


def test_a_missing_ssh_config_file_is_a_config_error(files, tmp_path) -> None:
    inventory, _ = files
    with pytest.raises(hostops.ConfigError, match="no such file"):
        hostops.load_inventory(inventory, ssh_config=tmp_path / "nothing")
