"""Secrets never leak: every feature that handles one (login password, keyboard-interactive,
key passphrase, sudo password; prompted for or from the environment; right and wrong) is
run with one secret full of spaces, quotes and ``$``, which is then searched for, raw,
shell-quoted, JSON-escaped and base64, everywhere it could have been left: stdout,
stderr, JSON output, the terminal, files (HOME with its XDG dirs, TMP, the remote
users' homes, logs), the process lists of both sides captured while the remote
commands are blocked on a FIFO, and the sshd logs at DEBUG3."""

from __future__ import annotations

import base64
import json
import os
import shlex
import stat
import tempfile
import threading
import time
from pathlib import Path

from conftest import Accounts
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hostops.testing import LogTail, SshdFleet
from hostops.testing.pytest_plugin import (
    json_results,
    process_name,
    run_hostops,
    run_hostops_on_tty,
    wait_for,
)


def _forms(secret: str) -> list[bytes]:
    """The ways a secret could be written down."""
    raw = secret.encode()
    forms = [raw, shlex.quote(secret).encode(), json.dumps(secret)[1:-1].encode()]
    for k in range(3):  # base64 of the secret at each alignment of a longer stream
        part = raw[k:]
        forms.append(base64.b64encode(part[: len(part) // 3 * 3]))
    return forms


class _Finder:
    def __init__(self, secret: str) -> None:
        self.forms = _forms(secret)
        self.found: list[str] = []

    def check(self, where: str, data: bytes | str) -> None:
        blob = data.encode() if isinstance(data, str) else data
        for form in self.forms:
            if form in blob:
                self.found.append(f"{where}: {form!r}")

    def files(self, root: Path, since: float = 0.0) -> int:
        """Check every regular file under ``root`` (changed after ``since``); returns how many."""
        n = 0
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                path = Path(dirpath, name)
                try:
                    st = path.lstat()
                    if not stat.S_ISREG(st.st_mode) or st.st_mtime < since or st.st_size > 50e6:
                        continue
                    self.check(str(path), path.read_bytes())
                    n += 1
                except OSError:
                    continue  # gone meanwhile, or a socket
        return n

    def processes(self, skip_environ: set[int]) -> int:
        """Every process's command line, and environment (but for ``skip_environ``: the
        hostops processes of a run whose user put a secret in their environment)."""
        n = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            parts = ["cmdline"] if int(entry) in skip_environ else ["cmdline", "environ"]
            for part in parts:
                try:
                    data = Path(f"/proc/{entry}/{part}").read_bytes()
                except OSError:
                    continue
                self.check(f"/proc/{entry}/{part}", data.replace(b"\0", b" "))
                n += 1
        return n


def _tree(pid: int) -> set[int]:
    """``pid`` and every process descended from it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat_line[stat_line.rindex(")") + 2 :].split()[1])
    found = {pid}
    while True:
        more = {p for p, pp in parents.items() if pp in found} - found
        if not more:
            return found
        found |= more


def _hostops_pids() -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"-m\0hostops\0run\0" in cmd:
                out.append(int(entry))
    return out


def _blocked_readers(fifo: Path) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/cmdline").read_bytes() == f"cat\0{fifo}\0".encode():
                    n += 1
            except OSError:
                continue
    return n


def _release_when_blocked(
    fifo: Path, readers: int, finder: _Finder, secret_in_env: bool, seen: list[int]
) -> threading.Thread:
    """Once ``readers`` commands wait on the FIFO, capture every process, then let them go."""

    def run() -> None:
        if wait_for(lambda: _blocked_readers(fifo) == readers, timeout=60):
            skip: set[int] = set()
            if secret_in_env:
                for pid in _hostops_pids():
                    # hostops and its workers hold the environment the user gave them;
                    # the commands they start (connection: local) must not.
                    skip |= {pid} | {p for p in _tree(pid) if _is_hostops(p)}
            seen.append(finder.processes(skip))
            seen.append(_blocked_readers(fifo))

        def released() -> bool:
            if not _blocked_readers(fifo):
                return True
            with open(fifo, "w"):
                pass  # every reader blocked in open() gets EOF
            return False

        wait_for(released, timeout=60)  # what the run did is checked by the test

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _is_hostops(pid: int) -> bool:
    return process_name(pid).startswith(("hostops", "python"))


def _encrypted_key(path: Path, passphrase: str) -> Path:
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    Path(f"{path}.pub").write_bytes(public + b"\n")
    return path


def _public_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="hostops-leak-"))
    d.chmod(0o755)  # the FIFO is read by the test users and root
    return d


def test_no_secret_leaks_anywhere(
    password_fleet: SshdFleet,
    kbdint_fleet: SshdFleet,
    accounts: Accounts,
    tmp_path: Path,
    isolated_home: Path,
) -> None:
    secret = accounts.secret
    started = time.time() - 1
    finder = _Finder(secret)
    shared = _public_dir()
    fifo = shared / "fifo"
    os.mkfifo(fifo, 0o666)
    fifo.chmod(0o666)
    key = _encrypted_key(tmp_path / "encrypted", secret)
    with open(password_fleet.authorized_keys, "a") as f:
        f.write(Path(f"{key}.pub").read_text())
    pw, kbd = password_fleet.hosts[0], kbdint_fleet.hosts[0]
    keyed = password_fleet.hosts[1]
    known = tmp_path / "known_hosts"
    known.write_text(password_fleet.known_hosts.read_text() + kbdint_fleet.known_hosts.read_text())
    inventory = tmp_path / "inv.yaml"

    def write_inventory(local: bool) -> Path:
        lines = [
            "defaults:",
            f"  known_hosts: {known}",
            "hosts:",
            f"  pw:\n    address: {pw.address}\n    port: {pw.port}\n    user: {accounts.password_user}",
            f"  kbd:\n    address: {kbd.address}\n    port: {kbd.port}\n    user: {accounts.password_user}",
            f"  keyed:\n    address: {keyed.address}\n    port: {keyed.port}\n    user: root"
            f"\n    identity_file: {key}",
        ]
        if local:
            lines.append("  here:\n    connection: local")
        inventory.write_text("\n".join(lines) + "\n")
        return inventory

    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    # What each daemon must log once the secret was used (both are named host01, in
    # fleets of their own: not keyed by name).
    logs = {
        "Accepted password for": LogTail(pw.log),
        "Accepted keyboard-interactive": LogTail(kbd.log),
    }
    seen: list[int] = []

    # 1. Everything prompted for on the terminal, every secret used, with --sudo and --debug.
    watcher = _release_when_blocked(fifo, 3, finder, secret_in_env=False, seen=seen)
    r, screen = run_hostops_on_tty(
        "run",
        f"id -un; cat {fifo}; echo released",
        "--hosts",
        str(write_inventory(local=False)),
        "--ask-pass",
        "--ask-key-pass",
        "--ask-sudo-pass",
        "--debug",
        "-o",
        "json",
        answers=[secret, secret, secret],
        env=env,
    )
    watcher.join()
    assert r.returncode == 0, r.stderr
    results = json_results(r.stdout)
    assert {name: o["stdout"] for name, o in results.items()} == dict.fromkeys(
        ("pw", "kbd", "keyed"), "root\nreleased\n"
    )
    assert screen.count(b"hostops: ") == 3
    for where, data in (("stdout 1", r.stdout), ("stderr 1", r.stderr), ("terminal", screen)):
        finder.check(where, data)
    assert "hostops-" not in r.stderr  # no marker, no sudo prompt
    for expect, log in logs.items():
        assert expect in log.new(), "the secret was not really used"

    # 2. The same from the environment, plus a local command (whose environment must be
    # scrubbed), in stream mode.
    env2 = {
        **env,
        "HOSTOPS_PASSWORD": secret,
        "HOSTOPS_KEY_PASSPHRASE": secret,
        "HOSTOPS_SUDO_PASSWORD": secret,
    }
    watcher = _release_when_blocked(fifo, 4, finder, secret_in_env=True, seen=seen)
    r = run_hostops(
        "run",
        f"env; cat {fifo}",
        "--hosts",
        str(write_inventory(local=True)),
        "--debug",
        env=env2,
    )
    watcher.join()
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| HOME=") == 4  # env ran everywhere
    finder.check("stdout 2", r.stdout)
    finder.check("stderr 2", r.stderr)
    r = run_hostops(
        "run",
        "sudo -n true; id -un",
        "--hosts",
        str(inventory),
        "--sudo",
        "--limit",
        "all:!here",
        env=env2,
    )
    assert r.returncode == 0, r.stderr
    finder.check("stdout 3", r.stdout)
    finder.check("stderr 3", r.stderr)

    # 3. Wrong secrets (the right one with one more character): every error path.
    wrong = {**env2}
    for name in ("HOSTOPS_PASSWORD", "HOSTOPS_KEY_PASSPHRASE", "HOSTOPS_SUDO_PASSWORD"):
        wrong[name] = secret + "X"
    for args in (["-o", "json"], ["--sudo", "--limit", "all:!here"]):
        r = run_hostops("run", "true", "--hosts", str(inventory), "--debug", *args, env=wrong)
        assert r.returncode != 0
        finder.check(f"stdout {args}", r.stdout)
        finder.check(f"stderr {args}", r.stderr)

    assert len(seen) == 4 and seen[1] == 3 and seen[3] == 4, "the commands were not all blocked"
    files = 0
    for root in (isolated_home, tmp_path, shared, Path("/home") / accounts.password_user):
        files += finder.files(root)
    for root in (Path(tempfile.gettempdir()), Path("/root"), Path("/var/log"), Path("/run")):
        files += finder.files(root, since=started)
    for fleet in (password_fleet, kbdint_fleet):
        for h in fleet.hosts:
            assert "debug3:" in h.log.read_text(errors="replace")
    assert files > 10
    assert finder.found == []
