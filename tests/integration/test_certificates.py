"""OpenSSH certificates against real sshd daemons: user certificates (TrustedUserCAKeys,
no authorized_keys) and host certificates (HostCertificate, @cert-authority), and the
agent options. For host certificates ``ssh`` itself is asked the same question."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostops.testing import SshdFleet
from hostops.testing.fleet import loopback_address
from hostops.testing.pytest_plugin import json_results, run_hostops, temporary_fleet


def _keygen(path: Path, *args: str) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path), *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


def _sign(ca: Path, public: Path, *args: str) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "hostops-test", *args, str(public)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return Path(str(public).removesuffix(".pub") + "-cert.pub")


# --------------------------------------------------------------------------- user certificates


@pytest.fixture(scope="module")
def user_ca_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshdFleet, Path]]:
    """One sshd that trusts a user CA and no authorized_keys: only a certificate logs in."""
    ca = _keygen(tmp_path_factory.mktemp("userca") / "ca")
    os.chmod(f"{ca}.pub", 0o644)
    with temporary_fleet(
        1,
        extra_config=(f"TrustedUserCAKeys {ca}.pub", "AuthorizedKeysFile none"),
        address_base=50,
    ) as fleet:
        yield fleet, ca


def _user_key(tmp_path: Path, ca: Path, user: str, *, beside: bool) -> tuple[Path, Path]:
    key = _keygen(tmp_path / "id_ed25519")
    cert = _sign(ca, Path(f"{key}.pub"), "-n", user)
    if not beside:  # only through CertificateFile
        elsewhere = tmp_path / "certs" / "mine-cert.pub"
        elsewhere.parent.mkdir()
        cert = Path(shutil.move(cert, elsewhere))
    return key, cert


def _user_inventory(fleet: SshdFleet, tmp_path: Path, key: Path) -> Path:
    h = fleet.hosts[0]
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"defaults:\n  user: {fleet.user}\n  identity_file: {key}\n"
        f"  known_hosts: {fleet.known_hosts}\nhosts:\n  {h.name}:\n"
        f"    address: {h.address}\n    port: {h.port}\n"
    )
    return inv


def test_a_user_certificate_beside_its_key_logs_in(
    user_ca_fleet: tuple[SshdFleet, Path], tmp_path: Path
) -> None:
    fleet, ca = user_ca_fleet
    key, _ = _user_key(tmp_path, ca, fleet.user, beside=True)
    r = run_hostops(
        "run", "echo cert", "--hosts", str(_user_inventory(fleet, tmp_path, key)), "--no-ssh-config"
    )
    assert r.returncode == 0, r.stderr
    assert "| cert" in r.stdout


def test_a_certificatefile_from_ssh_config_logs_in(
    user_ca_fleet: tuple[SshdFleet, Path], tmp_path: Path
) -> None:
    fleet, ca = user_ca_fleet
    key, cert = _user_key(tmp_path, ca, fleet.user, beside=False)
    inv = _user_inventory(fleet, tmp_path, key)
    without = run_hostops("run", "true", "--hosts", str(inv), "--no-ssh-config", "-o", "json")
    assert {o["status"] for o in json_results(without.stdout).values()} == {"auth_failed"}
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  CertificateFile {cert}\n")
    r = run_hostops("run", "echo cert", "--hosts", str(inv), "--ssh-config", str(config))
    assert r.returncode == 0, r.stderr


def test_a_certificate_for_another_user_is_refused(
    user_ca_fleet: tuple[SshdFleet, Path], tmp_path: Path
) -> None:
    fleet, ca = user_ca_fleet
    key = _keygen(tmp_path / "id_ed25519")
    _sign(ca, Path(f"{key}.pub"), "-n", "somebody-else")
    r = run_hostops(
        "run",
        "true",
        "--hosts",
        str(_user_inventory(fleet, tmp_path, key)),
        "--no-ssh-config",
        "-o",
        "json",
    )
    assert {o["status"] for o in json_results(r.stdout).values()} == {"auth_failed"}


# --------------------------------------------------------------------------- the agent


@pytest.fixture
def agent(tmp_path: Path, sshd_fleet: SshdFleet) -> Iterator[Path]:
    """An ssh-agent holding the fleet's client key, on a socket of our choosing."""
    sock = tmp_path / "agent.sock"
    started = subprocess.run(
        ["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True
    )
    pid = int(started.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        subprocess.run(
            ["ssh-add", "-q", str(sshd_fleet.client_key)],
            env={**os.environ, "SSH_AUTH_SOCK": str(sock)},
            check=True,
            capture_output=True,
        )
        yield sock
    finally:
        os.kill(pid, signal.SIGTERM)


def _keyless_inventory(fleet: SshdFleet, tmp_path: Path, key: Path | None = None) -> Path:
    h = fleet.hosts[0]
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"defaults:\n  user: {fleet.user}\n  known_hosts: {fleet.known_hosts}\n"
        + (f"  identity_file: {key}\n" if key else "")
        + f"hosts:\n  {h.name}:\n    address: {h.address}\n    port: {h.port}\n"
    )
    return inv


def test_identity_agent_names_the_socket_and_none_turns_it_off(
    sshd_fleet: SshdFleet, tmp_path: Path, agent: Path
) -> None:
    inv = _keyless_inventory(sshd_fleet, tmp_path)
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  IdentityAgent {agent}\n")
    r = run_hostops("run", "echo agent", "--hosts", str(inv), "--ssh-config", str(config))
    assert r.returncode == 0, r.stderr
    config.write_text("Host *\n  IdentityAgent none\n")
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--ssh-config", str(config), "-o", "json",
        env={**os.environ, "SSH_AUTH_SOCK": str(agent)},
    )  # fmt: skip
    assert {o["status"] for o in json_results(r.stdout).values()} == {"auth_failed"}


def test_identities_only_keeps_the_agents_other_keys_out(
    sshd_fleet: SshdFleet, tmp_path: Path, agent: Path
) -> None:
    """IdentitiesOnly: the agent holds the right key, the identity file is another one."""
    other = _keygen(tmp_path / "other")
    inv = _keyless_inventory(sshd_fleet, tmp_path, other)
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  IdentityAgent {agent}\n")
    r = run_hostops("run", "true", "--hosts", str(inv), "--ssh-config", str(config))
    assert r.returncode == 0, r.stderr  # the agent's key logs in
    config.write_text(f"Host *\n  IdentityAgent {agent}\n  IdentitiesOnly yes\n")
    r = run_hostops("run", "true", "--hosts", str(inv), "--ssh-config", str(config), "-o", "json")
    assert {o["status"] for o in json_results(r.stdout).values()} == {"auth_failed"}


# --------------------------------------------------------------------------- host certificates


def _host_cert_fleet(root: Path, ca: Path, *sign_args: str) -> SshdFleet:
    """A fleet of one whose host key is certified by ``ca`` before sshd starts."""
    directory = root / "host01"
    directory.mkdir(parents=True)
    key = _keygen(directory / "ssh_host_ed25519_key")
    cert = _sign(ca, Path(f"{key}.pub"), "-h", *sign_args)
    return SshdFleet(root, 1, extra_config=(f"HostCertificate {cert}",), address_base=51)


ADDRESS = loopback_address(0, 51)
HOST_CASES = {
    "valid": (("-n", ADDRESS), "ca", True),
    "valid for every name": ((), "ca", True),
    "expired": (("-n", ADDRESS, "-V", "20200101:20200102"), "ca", False),
    "not yet valid": (("-n", ADDRESS, "-V", "20990101:21000101"), "ca", False),
    "wrong principal": (("-n", "other.example"), "ca", False),
    "signed by another CA": (("-n", ADDRESS), "other", False),
}


@pytest.mark.parametrize("case", list(HOST_CASES))
def test_host_certificates_are_checked_as_ssh_checks_them(
    tmp_path: Path, sshd_fleet: SshdFleet, case: str
) -> None:
    sign_args, signer, trusted = HOST_CASES[case]
    ca = _keygen(tmp_path / "ca")
    other = _keygen(tmp_path / "other-ca")
    fleet = _host_cert_fleet(tmp_path / "fleet", ca if signer == "ca" else other, *sign_args)
    with fleet:
        h = fleet.hosts[0]
        known = tmp_path / "known_hosts"
        ca_line = " ".join(Path(f"{ca}.pub").read_text().split()[:2])
        known.write_text(f"@cert-authority [{h.address}]:* {ca_line}\n")
        ssh = subprocess.run(
            [
                "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}",
                "-o", "GlobalKnownHostsFile=none", "-o", "StrictHostKeyChecking=yes",
                "-i", str(fleet.client_key), "-p", str(h.port), f"{fleet.user}@{h.address}", "true",
            ],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
        )  # fmt: skip
        assert (ssh.returncode == 0) is trusted, ssh.stderr
        inv = fleet.write_inventory(tmp_path / "inv.yaml", known_hosts=known)
        r = run_hostops("run", "echo ok", "--hosts", str(inv), "--no-ssh-config", "-o", "json")
        (obj,) = json_results(r.stdout).values()
        if trusted:
            assert obj["status"] == "ok", obj["error"]
            assert known.read_text().count("\n") == 1  # nothing recorded
        else:
            assert obj["status"] == "hostkey_rejected"
            reason = {
                "expired": "the certificate expired",
                "not yet valid": "the certificate is not valid yet",
                "wrong principal": f"the certificate is for other.example, not {h.address}",
                "signed by another CA": "is not signed by a CA known for",
            }[case]
            assert reason in str(obj["error"])
