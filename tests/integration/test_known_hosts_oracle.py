"""known_hosts against OpenSSH itself: for each case, ``ssh -F CONFIG`` and ``hostops run
--ssh-config CONFIG`` connect to the same sshd with the same known_hosts files (each its
own copy), and must agree on whether the host key is trusted, and on what the files
hold afterwards (accept-new records a key as ssh does)."""

from __future__ import annotations

import base64
import hmac
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostops.testing import FleetHost, SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops


@dataclass(frozen=True)
class Keys:
    host: FleetHost
    right: str  # "ssh-ed25519 AAAA…" of the host
    other: str  # another ed25519 key

    @property
    def name(self) -> str:
        return self.host.known_hosts_pattern


# A case: (known_hosts text, global known_hosts text, extra ssh_config lines).
Case = Callable[[Keys], tuple[str, str, str]]

CASES: dict[str, Case] = {
    "unknown": lambda k: ("", "", ""),
    "known": lambda k: (f"{k.name} {k.right}\n", "", ""),
    "changed": lambda k: (f"{k.name} {k.other}\n", "", ""),
    "two keys of one type, the right one second": lambda k: (
        f"{k.name} {k.other}\n{k.name} {k.right}\n",
        "",
        "",
    ),
    "negated entry": lambda k: (f"{k.name},!{k.name} {k.right}\n", "", ""),
    "wildcard *": lambda k: (f"* {k.right}\n", "", ""),
    "wildcard address with port": lambda k: (
        f"[{k.host.address.rsplit('.', 1)[0]}.*]:{k.host.port} {k.right}\n",
        "",
        "",
    ),
    "wildcard of another port": lambda k: (f"[{k.host.address}]:1 {k.right}\n", "", ""),
    "known without the port": lambda k: (f"{k.host.address} {k.right}\n", "", ""),
    "changed without the port": lambda k: (f"{k.host.address} {k.other}\n", "", ""),
    "revoked for every host": lambda k: (f"{k.name} {k.right}\n@revoked * {k.right}\n", "", ""),
    "revoked for another host": lambda k: (
        f"{k.name} {k.right}\n@revoked other.example {k.right}\n",
        "",
        "",
    ),
    "in the global file": lambda k: ("", f"{k.name} {k.right}\n", ""),
    "changed in the global file": lambda k: ("", f"{k.name} {k.other}\n", ""),
    "unreadable line then the key": lambda k: (
        f"{k.name} ssh-ed25519 AAAA@@\n{k.name} {k.right}\n",
        "",
        "",
    ),
    "host key alias": lambda k: (f"shared.alias {k.right}\n", "", "HostKeyAlias Shared.Alias\n"),
    "host key alias unknown": lambda k: (
        f"{k.name} {k.right}\n",
        "",
        "HostKeyAlias shared.alias\n",
    ),
    "several user files": lambda k: (f"{k.name} {k.right}\n", "", "@SECOND@"),
    "hashed name": lambda k: (f"{_hashed(k.name)} {k.right}\n", "", ""),
    "hashed name, other key": lambda k: (f"{_hashed(k.name)} {k.other}\n", "", ""),
}


def _hashed(name: str) -> str:
    """``|1|salt|hash`` as ``ssh-keygen -H`` writes a name."""
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), "sha1").digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def _run_ssh(config: Path, host: FleetHost, fleet: SshdFleet) -> bool:
    done = subprocess.run(
        ["ssh", "-F", str(config), "-p", str(host.port), f"{fleet.user}@{host.address}", "true"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 or "Host key verification failed" in done.stderr, done.stderr
    return done.returncode == 0


def _files(tmp_path: Path, tag: str, user: str, system: str, extra: str, keys: Keys, policy: str):
    base = tmp_path / tag
    base.mkdir()
    (base / "known_hosts").write_text(user)
    (base / "global_known_hosts").write_text(system)
    user_files = str(base / "known_hosts")
    if extra == "@SECOND@":  # the key only in the second of two user files
        (base / "known_hosts").write_text("")
        (base / "second").write_text(user)
        user_files = f"{base / 'known_hosts'} {base / 'second'}"
        extra = ""
    config = base / "ssh_config"
    config.write_text(
        f"Host *\n  StrictHostKeyChecking {policy}\n  UserKnownHostsFile {user_files}\n"
        f"  GlobalKnownHostsFile {base / 'global_known_hosts'}\n  BatchMode yes\n"
        f"  IdentitiesOnly yes\n  IdentityFile {keys.host.directory.parent / 'client_key'}\n"
        f"  CheckHostIP no\n  HashKnownHosts no\n  UpdateHostKeys no\n  {extra}"
    )
    return base, config


def _contents(base: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(base.iterdir()) if p.name != "ssh_config"}


@pytest.mark.parametrize("policy", ["yes", "accept-new"])
@pytest.mark.parametrize("case", list(CASES))
def test_hostops_trusts_what_ssh_trusts(
    sshd_fleet: SshdFleet, tmp_path: Path, case: str, policy: str, other_key: str
) -> None:
    host = sshd_fleet.hosts[0]
    keys = Keys(host, host.host_key_line, other_key)
    user, system, extra = CASES[case](keys)
    theirs, ssh_config = _files(tmp_path, "ssh", user, system, extra, keys, policy)
    ours, our_config = _files(tmp_path, "hostops", user, system, extra, keys, policy)
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"hosts:\n  {host.name}:\n    address: {host.address}\n    port: {host.port}\n"
        f"    user: {sshd_fleet.user}\n"
    )
    ssh_ok = _run_ssh(ssh_config, host, sshd_fleet)
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--ssh-config", str(our_config), "-o", "json"
    )
    status = json_results(r.stdout)[host.name]["status"]
    assert status in ("ok", "hostkey_rejected"), r.stdout
    assert (status == "ok") == ssh_ok, f"ssh {'accepts' if ssh_ok else 'refuses'}: {r.stdout}"
    mine = _contents(ours)
    theirs_now = _contents(theirs)
    assert mine == theirs_now


def test_an_unwritable_known_hosts_under_accept_new_warns_and_connects(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """ssh says "Failed to add the host to the list of known hosts" and connects."""
    host = sshd_fleet.hosts[0]
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host *\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile {blocker}/known_hosts\n"
        f"  GlobalKnownHostsFile none\n  BatchMode yes\n  IdentitiesOnly yes\n"
        f"  IdentityFile {sshd_fleet.client_key}\n"
    )
    assert _run_ssh(config, host, sshd_fleet)
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"hosts:\n  {host.name}:\n    address: {host.address}\n    port: {host.port}\n"
        f"    user: {sshd_fleet.user}\n"
    )
    r = run_hostops("run", "echo on", "--hosts", str(inv), "--ssh-config", str(config))
    assert r.returncode == 0, r.stderr
    assert f"{host.name} | on" in r.stdout
    assert f"could not record it in {blocker}/known_hosts" in r.stderr


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    key = tmp_path_factory.mktemp("impostor") / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return " ".join(Path(f"{key}.pub").read_text().split()[:2])
