"""The workers' pre-flight: which files each worker checks, and what it finds."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from hostops import __version__
from hostops.cluster.preflight import (
    FileCheck,
    FileRole,
    check_files,
    check_hosts,
    files_of,
    hosts_to_check,
)
from hostops.cluster.resolve import Resolution, hop_names
from hostops.cluster.shards import Shard, WorkerInfo
from hostops.models import Host, SshSettings


def test_each_worker_checks_the_files_of_its_own_hosts_and_their_jump_hosts() -> None:
    jump = Host(name="bastion", address="b", identity_files=("/k/bastion",))
    web = Host(
        name="web01",
        address="w",
        identity_files=("/k/web",),
        known_hosts="/kh/web",
        jump_hosts=(jump,),
    )
    db = Host(
        name="db1",
        address="d",
        ssh=SshSettings(known_hosts_files=("/kh/a", "/kh/b"), global_known_hosts=("/kh/g",)),
    )
    w1, w2 = WorkerInfo("tls://1:1", "w1"), WorkerInfo("tls://2:1", "w2")
    web = dataclasses.replace(web, vars={"site": "dc1", "token": "secret"})
    chosen = hosts_to_check([Shard(w1, "dc1", ("web01",)), Shard(w2, None, ("db1",))], [web, db])
    assert {a: [h.name for h in hs] for a, hs in chosen.items()} == {
        "tls://1:1": ["web01"],
        "tls://2:1": ["db1"],
    }
    assert chosen["tls://1:1"][0].vars == {}  # no inventory value goes to the scheduler
    files = {address: files_of(hosts) for address, hosts in chosen.items()}
    identity, known = FileRole.IDENTITY, FileRole.KNOWN_HOSTS
    assert files == {
        "tls://1:1": (
            FileCheck("/k/bastion", identity),
            FileCheck("/k/web", identity),
            FileCheck("/kh/web", known),
            FileCheck("~/.ssh/known_hosts", known),  # the bastion's: the worker's home
        ),
        "tls://2:1": (
            FileCheck("/kh/a", known),
            FileCheck("/kh/b", known),
            FileCheck("/kh/g", known),
        ),
    }


def test_the_check_reports_missing_keys_and_unusable_known_hosts(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k")
    report = check_files(
        [
            FileCheck(str(key), FileRole.IDENTITY),
            FileCheck(str(tmp_path / "gone"), FileRole.IDENTITY),
            FileCheck(str(tmp_path / "no_known_hosts"), FileRole.KNOWN_HOSTS),  # fine
            FileCheck(str(tmp_path), FileRole.KNOWN_HOSTS),
        ]
    )
    assert report.problems == (
        f"identity file {tmp_path / 'gone'}: no such file",
        f"known_hosts {tmp_path}: not a file",
    )
    assert report.version == __version__ and report.daemonic is False


def test_the_worker_resolves_its_hosts_with_its_own_ssh_config_and_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a worker's pre-flight and shards do: the host as the inventory gave it, read
    with the ssh_config of the HOME there (User, Port, IdentityFile, ~ expanded there)."""
    home = tmp_path / "worker-home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host web01\n  User deploy\n  Port 2222\n  IdentityFile ~/.ssh/site_key\n"
    )
    monkeypatch.setenv("HOME", str(home))
    given = Host(name="web01", address="127.0.0.1")
    (resolved,) = Resolution(ssh_config=True).resolve([given])
    assert (resolved.user, resolved.port) == ("deploy", 2222)
    assert resolved.identity_files == (os.path.join(home, ".ssh", "site_key"),)
    report = check_hosts([given], Resolution(ssh_config=True))
    assert report.problems == (f"identity file {home}/.ssh/site_key: no such file",)
    (home / ".ssh" / "site_key").write_text("k")
    assert check_hosts([given], Resolution(ssh_config=True)).problems == ()


def test_a_worker_whose_ssh_config_breaks_reports_it_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text("Host web01\n  Port notanumber\n")
    report = check_hosts([Host(name="web01", address="w")], Resolution(ssh_config=str(config)))
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"connection settings: {config}:2:")


def test_hop_names_are_the_hosts_of_jump_chains() -> None:
    hosts = [
        Host(name="a", address="a", jump="ops@bastion:2200,[gw6]:22"),
        Host(name="b", address="b", jump="none"),
        Host(name="c", address="c"),
    ]
    assert hop_names(hosts) == {"bastion", "gw6"}
