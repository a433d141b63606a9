"""Passwords, keyboard-interactive and key passphrases against real sshd: where they come
from (prompt, environment, password_env), the order of methods, and clear failures."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Accounts
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from hostops.testing import LogTail, SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops, run_hostops_on_tty


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _keyless_inventory(fleet: SshdFleet, path: Path, user: str, extra: str = "") -> Path:
    """Every host of ``fleet`` as ``user``, with no identity file: only a password can do."""
    lines = [line for line in fleet.inventory_text().splitlines() if "identity_file" not in line]
    text = "\n".join(lines).replace(f"user: {fleet.user}", f"user: {user}") + "\n"
    path.write_text(text.replace("hosts:\n", f"{extra}hosts:\n", 1) if extra else text)
    return path


def test_password_from_the_environment(
    password_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    inv = _keyless_inventory(password_fleet, tmp_path / "inv.yaml", accounts.password_user)
    logs = [LogTail(h.log) for h in password_fleet.hosts]
    r = run_hostops(
        "run", "id -un", "--hosts", str(inv), env=_env(HOSTOPS_PASSWORD=accounts.secret)
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(f"| {accounts.password_user}") == 2
    for log in logs:
        assert f"Accepted password for {accounts.password_user}" in log.new()


def test_keys_are_tried_before_the_password(
    password_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    inv = password_fleet.write_inventory(tmp_path / "inv.yaml")
    text = inv.read_text().replace(
        f"user: {password_fleet.user}", f"user: {accounts.password_user}"
    )
    inv.write_text(text)
    logs = [LogTail(h.log) for h in password_fleet.hosts]
    r = run_hostops("run", "true", "--hosts", str(inv), env=_env(HOSTOPS_PASSWORD=accounts.secret))
    assert r.returncode == 0, r.stderr
    for log in logs:
        text = log.new()
        assert f"Accepted publickey for {accounts.password_user}" in text
        assert "password for" not in text  # never sent when a key did


def test_wrong_or_missing_password_is_auth_failed(
    password_fleet: SshdFleet, kbdint_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    # No ssh_config: the system's (Debian's GSSAPIAuthentication yes) would add its note.
    inv = _keyless_inventory(password_fleet, tmp_path / "inv.yaml", accounts.password_user)
    r = run_hostops(
        "run",
        "true",
        "--hosts",
        str(inv),
        "--no-ssh-config",
        "-o",
        "json",
        env=_env(HOSTOPS_PASSWORD="wrong"),
    )
    assert r.returncode == 3
    for h in password_fleet.hosts:
        error = json_results(r.stdout)[h.name]["error"]
        assert (
            error
            == f"permission denied for {accounts.password_user}@{h.address} (0 key(s) and a password tried)"
        )
    r = run_hostops("run", "true", "--hosts", str(inv), "--no-ssh-config", "-o", "json")
    assert r.returncode == 3
    for h in password_fleet.hosts:
        assert json_results(r.stdout)[h.name]["error"] == (
            f"permission denied for {accounts.password_user}@{h.address} (0 key(s) tried);"
            " the server also takes a password: give a password with --ask-pass or HOSTOPS_PASSWORD"
        )
    inv = _keyless_inventory(kbdint_fleet, tmp_path / "kbd.yaml", accounts.password_user)
    r = run_hostops("run", "true", "--hosts", str(inv), "--no-ssh-config", "-o", "json")
    assert r.returncode == 3
    for h in kbdint_fleet.hosts:
        obj = json_results(r.stdout)[h.name]
        assert obj["status"] == "auth_failed"
        assert obj["error"] == (
            f"{accounts.password_user}@{h.address}: server allows only keyboard-interactive;"
            " give a password with --ask-pass or HOSTOPS_PASSWORD"
        )


def test_keyboard_interactive_answers_the_password_prompt(
    kbdint_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    """The daemon offers keyboard-interactive only (PAM asks "Password:")."""
    inv = _keyless_inventory(kbdint_fleet, tmp_path / "inv.yaml", accounts.password_user)
    logs = [LogTail(h.log) for h in kbdint_fleet.hosts]
    r = run_hostops(
        "run", "id -un", "--hosts", str(inv), env=_env(HOSTOPS_PASSWORD=accounts.secret)
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(f"| {accounts.password_user}") == 2
    for log in logs:
        assert f"Accepted keyboard-interactive/pam for {accounts.password_user}" in log.new()


def test_password_env_names_the_variable_per_host(
    password_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    inv = _keyless_inventory(
        password_fleet,
        tmp_path / "inv.yaml",
        accounts.password_user,
        extra="",
    )
    inv.write_text(inv.read_text().replace("defaults:\n", "defaults:\n  password_env: LAB_PW\n"))
    r = run_hostops("run", "true", "--hosts", str(inv), env=_env(LAB_PW=accounts.secret))
    assert r.returncode == 0, r.stderr
    r = run_hostops("run", "true", "--hosts", str(inv))
    assert r.returncode == 2
    assert r.stderr == (
        "hostops: error: password_env LAB_PW (for host[01-02]) is not set in the environment;"
        " set it, or give --ask-pass or HOSTOPS_PASSWORD\n"
    )


def test_ask_pass_prompts_once_on_the_terminal_for_every_host(
    password_fleet: SshdFleet, kbdint_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    """stdout is a pipe: the prompt goes to the terminal, with echo off, once for all hosts."""
    one = _keyless_inventory(password_fleet, tmp_path / "a.yaml", accounts.password_user)
    two = _keyless_inventory(kbdint_fleet, tmp_path / "b.yaml", accounts.password_user)
    entries = two.read_text().split("hosts:\n", 1)[1].replace("host0", "kbd0")
    inv = tmp_path / "inv.yaml"
    inv.write_text(one.read_text() + entries)
    known = tmp_path / "known_hosts"
    known.write_text(password_fleet.known_hosts.read_text() + kbdint_fleet.known_hosts.read_text())
    r, screen = run_hostops_on_tty(
        "run",
        "echo hi",
        "--hosts",
        str(inv),
        "--known-hosts",
        str(known),
        "--ask-pass",
        answers=[accounts.secret],
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 4
    assert screen.count(b"hostops: SSH password: ") == 1
    assert accounts.secret.encode() not in screen


def test_ask_pass_without_a_terminal_is_a_usage_error(tmp_path: Path) -> None:
    r = run_hostops("run", "true", "-H", "web1", "--ask-pass", start_new_session=True)
    assert r.returncode == 2
    assert r.stderr == (
        "hostops: error: cannot ask for the ssh password: no terminal; set HOSTOPS_PASSWORD instead\n"
    )


def _encrypted_keys(directory: Path, passphrase: str) -> list[Path]:
    """An ed25519 key in OpenSSH's format and an RSA key in PEM, both encrypted with
    ``passphrase`` (made here, so the passphrase is in no command line)."""
    keys = [
        (ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            serialization.PrivateFormat.TraditionalOpenSSL,
        ),
    ]
    paths = []
    for i, (key, fmt) in enumerate(keys):
        path = directory / f"encrypted{i}"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                fmt,
                serialization.BestAvailableEncryption(passphrase.encode()),
            )
        )
        path.chmod(0o600)
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        Path(f"{path}.pub").write_bytes(public + b"\n")
        paths.append(path)
    return paths


def test_encrypted_keys_with_their_passphrase(
    password_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    keys = _encrypted_keys(tmp_path, accounts.secret)
    with open(password_fleet.authorized_keys, "a") as f:
        for key in keys:
            f.write(Path(f"{key}.pub").read_text())
    for key in keys:
        inv = password_fleet.write_inventory(tmp_path / "inv.yaml", identity_file=key)
        r = run_hostops(
            "run",
            "true",
            "--hosts",
            str(inv),
            "-o",
            "json",
            env=_env(HOSTOPS_KEY_PASSPHRASE=accounts.secret),
        )
        assert r.returncode == 0, r.stdout
        r = run_hostops(
            "run", "true", "--hosts", str(inv), "-o", "json", env=_env(HOSTOPS_KEY_PASSPHRASE="no")
        )
        assert r.returncode == 3
        for obj in json_results(r.stdout).values():
            assert obj["status"] == "auth_failed"
            assert (
                f"; {key}: wrong passphrase for this key (from --ask-key-pass or HOSTOPS_KEY_PASSPHRASE);"
                in obj["error"]
            )
        r = run_hostops("run", "true", "--hosts", str(inv), "-o", "json")
        assert r.returncode == 3
        for obj in json_results(r.stdout).values():
            assert (
                f"; {key}: the key is encrypted and no passphrase was given"
                " (use --ask-key-pass or HOSTOPS_KEY_PASSPHRASE);" in obj["error"]
            )
    r, screen = run_hostops_on_tty(
        "run", "echo hi", "--hosts", str(inv), "--ask-key-pass", answers=[accounts.secret]
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 2
    assert screen.count(b"hostops: Key passphrase: ") == 1
    assert accounts.secret.encode() not in screen


def test_a_passphrase_given_for_plain_keys_does_no_harm(
    password_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = password_fleet.write_inventory(tmp_path / "inv.yaml")
    r = run_hostops("run", "true", "--hosts", str(inv), env=_env(HOSTOPS_KEY_PASSPHRASE="x"))
    assert r.returncode == 0, r.stderr
