"""The background process of warm runs is treated like ssh-agent (issue 17, "Security").

Two ordinary local users (root bypasses file permissions: a root test proves nothing):
the second cannot reach, use or read anything of the first's background process. And
no secret outlives the command that supplied it: not in the background process's or its
workers' environment, command line or open files, not in any output or run record; a
kept connection is reused, a sudo password is not."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Accounts
from system_users import ensure_user
from test_secrets_leak import _encrypted_key, _Finder, _release_when_blocked

from hostops.keeper import control, paths
from hostops.testing import LogTail, SshdFleet
from hostops.testing.pytest_plugin import (
    child_pids,
    json_results,
    process_name,
    run_hostops,
    run_hostops_on_tty,
    wait_for,
)

USER_A = "hostops-keep-a"
USER_B = "hostops-keep-b"
_REPO = Path(__file__).resolve().parents[2]

# Run as user B: a client of its own making that talks to a socket directly, as an
# attacker would; it prints what happened as one JSON object.
_KNOCK = r"""
import errno, json, os, socket, sys
path, request = sys.argv[1], sys.argv[2]
report = {"connect": "ok", "received": []}
try:
    listing = os.listdir(os.path.dirname(path))
    report["listed"] = listing
except OSError as exc:
    report["listed"] = errno.errorcode[exc.errno]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try:
    s.connect(path)
except OSError as exc:
    report["connect"] = errno.errorcode[exc.errno]
    print(json.dumps(report))
    sys.exit(0)
s.settimeout(30)
try:
    # The request goes with this process's own stdout and stderr, as a client's would.
    socket.send_fds(s, [request.encode()], [0, 1, 2])
    while True:
        data = s.recv(1 << 20)
        if not data:
            break
        report["received"].append(data.decode(errors="replace"))
except OSError as exc:
    report["error"] = errno.errorcode.get(exc.errno or 0, str(exc))
print(json.dumps(report))
"""


@dataclass(frozen=True)
class Local:
    """An ordinary local user of these tests, with a runtime directory of its own."""

    name: str
    uid: int
    home: Path
    runtime: Path  # its XDG_RUNTIME_DIR (as a login manager makes it: 0700, its own)


def _python_for(user: str) -> tuple[str, str]:
    """An interpreter ``user`` may run that imports this hostops and its dependencies,
    and the PYTHONPATH for it (this venv may live where others cannot go, e.g. /root)."""
    purelib = sysconfig.get_paths()["purelib"]
    pythonpath = f"{_REPO}:{purelib}"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable, os.path.realpath(sys.executable)]
    candidates += [p for p in (shutil.which(f"python{version}"), f"/usr/bin/python{version}") if p]
    probe = "import hostops, paramiko, typer"
    for python in candidates:
        as_user = ["runuser", "-u", user, "--", "env", "-i", f"PYTHONPATH={pythonpath}"]
        r = subprocess.run(
            [*as_user, python, "-c", probe],
            capture_output=True,
            check=False,
        )
        if r.returncode == 0:
            return python, pythonpath
    pytest.fail(f"no Python {version} that {user} may run imports hostops from {pythonpath}")


def _uid_pids(uid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    out.append(int(entry))
    return out


@pytest.fixture(scope="module")
def two_users() -> Iterator[tuple[Local, Local]]:
    """USER_A and USER_B, made for this module and removed after it (with whatever they
    left running: their background processes)."""
    if os.geteuid() != 0:
        pytest.fail("this test creates two local users: run it as root (CI does)")
    for tool in ("useradd", "userdel", "runuser"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing")
    shared = Path(tempfile.mkdtemp(prefix="hostops-keep-"))
    shared.chmod(0o755)
    made = []
    try:
        for name in (USER_A, USER_B):
            ensure_user(name)
            entry = pwd.getpwnam(name)
            runtime = shared / f"run-{entry.pw_uid}"
            runtime.mkdir(mode=0o700)
            os.chown(runtime, entry.pw_uid, entry.pw_gid)
            made.append(Local(name, entry.pw_uid, Path(entry.pw_dir), runtime))
        yield made[0], made[1]
    finally:
        for user in made:
            for pid in _uid_pids(user.uid):  # only what these users ran: our tests
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            wait_for(lambda u=user: not _uid_pids(u.uid), timeout=30)  # type: ignore[misc]
        for name in (USER_A, USER_B):
            subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
        shutil.rmtree(shared, ignore_errors=True)


class AsUser:
    """Runs things as one of the users, with an environment of its own (nothing of ours)."""

    def __init__(self, user: Local, python: str, pythonpath: str, tmpdir: Path) -> None:
        self.user = user
        self.python = python
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(user.home),
            "USER": user.name,
            "LOGNAME": user.name,
            "LANG": "C.UTF-8",
            "PYTHONPATH": pythonpath,
            "XDG_RUNTIME_DIR": str(user.runtime),
            "TMPDIR": str(tmpdir),
        }

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        merged = {**self.env, **env}
        merged = {k: v for k, v in merged.items() if v != ""}  # "" unsets
        return subprocess.run(
            ["runuser", "-u", self.user.name, "--", "env", "-i"]
            + [f"{k}={v}" for k, v in merged.items()]
            + list(argv),
            capture_output=True,
            text=True,
            cwd=self.user.home,
            timeout=120,
            check=False,
        )

    def hostops(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.python, "-m", "hostops", *args, **env)

    def knock(self, socket_path: Path, request: dict[str, object]) -> dict[str, object]:
        r = self.run(self.python, "-c", _KNOCK, str(socket_path), json.dumps(request))
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""  # nothing of anyone else's came through our stderr either
        (line,) = r.stdout.splitlines()  # nor through our stdout
        report: dict[str, object] = json.loads(line)
        # Closed on B before or after its request: end of file, a reset or a broken pipe,
        # never an answer.
        assert report.pop("error", None) in (None, "ECONNRESET", "EPIPE"), report
        return report


def _own_inventory(user: Local, fleet: SshdFleet, hosts: int) -> Path:
    """An inventory of ``hosts`` fleet hosts in ``user``'s home, with a copy of the
    fleet's key and known_hosts that only ``user`` can read."""
    folder = user.home / "fleet"
    folder.mkdir(mode=0o700, exist_ok=True)
    key = folder / "client_key"
    shutil.copyfile(fleet.client_key, key)
    known = folder / "known_hosts"
    shutil.copyfile(fleet.known_hosts, known)
    inv = folder / "inv.yaml"
    lines = [
        "defaults:",
        f"  user: {fleet.user}",
        f"  identity_file: {key}",
        f"  known_hosts: {known}",
        "hosts:",
    ]
    for h in fleet.hosts[:hosts]:
        lines += [f"  {h.name}:", f"    address: {h.address}", f"    port: {h.port}"]
    inv.write_text("\n".join(lines) + "\n")
    entry = pwd.getpwnam(user.name)
    for path in (folder, key, known, inv):
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700 if path == folder else 0o600)
    return inv


def _keeper_pid(person: AsUser) -> int:
    r = person.hostops("persist")
    assert r.returncode == 0, r.stderr
    last = r.stdout.splitlines()[-1]
    assert "kept by the background process (pid " in last, r.stdout
    return int(last.rsplit("pid ", 1)[1].rstrip(")"))


@pytest.fixture
def users(two_users: tuple[Local, Local], tmp_path: Path) -> Iterator[tuple[AsUser, AsUser]]:
    """The two users, each with its runtime directory emptied and nothing running."""
    tmpdir = Path(tempfile.mkdtemp(prefix="hostops-keep-tmp-"))  # their /tmp
    tmpdir.chmod(0o1777)
    python, pythonpath = _python_for(two_users[0].name)
    people = tuple(AsUser(u, python, pythonpath, tmpdir) for u in two_users)
    yield people[0], people[1]
    for person in people:
        person.hostops("persist", "--stop")
        wait_for(lambda p=person: not _uid_pids(p.user.uid), timeout=30)  # type: ignore[misc]
        for child in person.user.runtime.iterdir():
            shutil.rmtree(child, ignore_errors=True)
        shutil.rmtree(person.user.home / "fleet", ignore_errors=True)
    shutil.rmtree(tmpdir, ignore_errors=True)


def test_another_user_cannot_reach_or_use_the_background_process(
    users: tuple[AsUser, AsUser], sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    a, b = users
    inv = _own_inventory(a.user, sshd_fleet, 2)
    r = a.hostops("run", "id -u", "--hosts", str(inv), "--persist", "5m", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert {o["status"] for o in json_results(r.stdout).values()} == {"ok"}
    keeper = _keeper_pid(a)
    assert os.stat(f"/proc/{keeper}").st_uid == a.user.uid
    folder = a.user.runtime / "hostops"
    sock = folder / "keeper.sock"
    st = folder.lstat()
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == a.user.uid
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert stat.S_ISSOCK(sock.lstat().st_mode) and sock.lstat().st_uid == a.user.uid
    served = tmp_path / "served-b"  # made on the host (this machine) if B were served
    b_run = {
        "op": "run",
        "argv": ["run", f"touch {served}", "--hosts", str(inv), "--persist", "5m"],
        "cwd": str(a.user.home),
        "env": b.env,
        "umask": 0o022,
        "tty": False,
    }

    # (a) The directory (0700) keeps B out before any socket is reached.
    for request in (b_run, {"op": "status"}, {"op": "stop"}):
        report = b.knock(sock, request)
        assert report == {"connect": "EACCES", "received": [], "listed": "EACCES"}

    # (c) B pointing its own runtime directory at A's: one line naming it, exit 2.
    mine = str(folder)
    for args in (["run", "id", "--hosts", str(inv), "--persist", "5m"], ["persist"]):
        r = b.hostops(*args, XDG_RUNTIME_DIR=str(a.user.runtime))
        assert r.returncode == 2, (args, r.stderr)
        assert r.stdout == ""
        (line,) = r.stderr.splitlines()
        assert line.startswith(f"hostops: error: {mine}: ") and "Permission denied" in line

    # (b) Even when the directory lets B through and the socket takes B's connection (root
    # opened them for this test), SO_PEERCRED refuses B: not one byte comes back, and A's
    # background process does nothing for B.
    logins = [LogTail(h.log) for h in sshd_fleet.hosts[:2]]
    try:
        a.user.runtime.chmod(0o711)
        folder.chmod(0o711)
        sock.chmod(0o777)
        for request in (b_run, {"op": "status"}, {"op": "stop"}):
            report = b.knock(sock, request)
            assert report == {"connect": "ok", "received": [], "listed": "EACCES"}, request
        # B's own command line, pointed there, is refused by the owner check first.
        r = b.hostops("persist", XDG_RUNTIME_DIR=str(a.user.runtime))
        assert r.returncode == 2
        assert r.stderr == (
            f"hostops: error: {mine}: owned by uid {a.user.uid}, not by you (uid {b.user.uid}):"
            " refused for the background process\n"
        )
        # A's own commands refuse the opened directory too (never repaired, never used).
        r = a.hostops("persist")
        assert r.returncode == 2
        assert f"hostops: error: {mine}: mode 0711 lets others in" in r.stderr
    finally:
        folder.chmod(0o700)
        a.user.runtime.chmod(0o700)
        sock.chmod(0o700)
    assert not served.exists(), "A's background process ran B's command"
    assert _keeper_pid(a) == keeper  # B's "stop" stopped nothing
    assert all(tail.logins() == 0 for tail in logins)
    # A's connections are still there, and still A's alone.
    r = a.hostops("run", "id -u", "--hosts", str(inv), "--persist", "5m", "-o", "json")
    assert r.returncode == 0, r.stderr
    res = json_results(r.stdout)
    assert {o["reused"] for o in res.values()} == {True}
    assert {o["stdout"] for o in res.values()} == {"0\n"}


def test_a_uid_directory_made_by_another_user_is_refused(
    users: tuple[AsUser, AsUser], sshd_fleet: SshdFleet
) -> None:
    """Without XDG_RUNTIME_DIR the socket goes to TMPDIR/hostops-UID: B making that
    directory first (to catch A's connections) makes A refuse it, and A's own is closed to B."""
    a, b = users
    inv = _own_inventory(a.user, sshd_fleet, 1)
    tmpdir = Path(a.env["TMPDIR"])
    squat = tmpdir / f"hostops-{a.user.uid}"
    made = b.run("mkdir", "-m", "700", str(squat))
    assert made.returncode == 0, made.stderr
    tail = LogTail(sshd_fleet.hosts[0].log)
    r = a.hostops("run", "id -u", "--hosts", str(inv), "--persist", "5m", XDG_RUNTIME_DIR="")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr == (
        f"hostops: error: {squat}: owned by uid {b.user.uid}, not by you (uid {a.user.uid}):"
        " refused for the background process\n"
    )
    assert tail.logins() == 0  # nothing ran
    assert os.listdir(squat) == []  # no socket went into B's directory

    shutil.rmtree(squat)
    r = a.hostops("run", "id -u", "--hosts", str(inv), "--persist", "5m", XDG_RUNTIME_DIR="")
    assert r.returncode == 0, r.stderr
    st = squat.lstat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (a.user.uid, 0o700)
    assert os.listdir(squat) == ["keeper.sock"]
    report = b.knock(squat / "keeper.sock", {"op": "status"})
    assert report == {"connect": "EACCES", "received": [], "listed": "EACCES"}
    r = a.hostops("persist", "--stop", XDG_RUNTIME_DIR="")
    assert r.returncode == 0 and "closed 1 kept connection(s)" in r.stderr, r.stderr


def test_control_refuses_an_untrusted_directory_of_the_caller(tmp_path: Path) -> None:
    """The test's own runtime directory opened to others: `hostops persist` refuses it
    with the one line (exit 2), and the library call raises instead of connecting."""
    runtime = Path(os.environ["XDG_RUNTIME_DIR"]) / "hostops"
    runtime.mkdir(mode=0o700)
    runtime.chmod(0o755)
    r = run_hostops("persist")
    assert r.returncode == 2
    assert r.stderr.startswith(f"hostops: error: {runtime}: mode 0755 lets others in")
    with pytest.raises(paths.PlaceError, match="lets others in"):
        control.ask("status")
    runtime.chmod(0o700)
    assert os.listdir(runtime) == []  # nothing was started meanwhile


# -- what the background process keeps --------------------------------------------


def _keeper_and_workers() -> list[int]:
    """The background process of this test's environment and its workers: all that is
    left of hostops between commands."""
    answer = control.ask("status")
    assert answer is not None, "no background process"
    keeper = int(answer["pid"])
    return [keeper, *(p for p in child_pids(keeper) if process_name(p).startswith("hostops-"))]


def _no_run_left() -> bool:
    keeper = _keeper_and_workers()[0]
    return all(process_name(p).startswith("hostops-keeper") for p in child_pids(keeper))


def _descriptor_counts(pids: list[int]) -> dict[int, int]:
    """How many descriptors each of ``pids`` holds, once they hold still: asking the
    background process for its pids (a status query) opens a connection that it closes
    a moment after answering, and counted in that moment it is one too many."""
    counts: dict[int, int] = {}
    for _ in range(50):
        last, counts = counts, {pid: len(_open_files(pid)) for pid in pids}
        if counts == last:
            break
        time.sleep(0.2)
    return counts


def _open_files(pid: int) -> list[str]:
    """What the descriptors of ``pid`` refer to."""
    fds = Path(f"/proc/{pid}/fd")
    return [os.readlink(fd) for fd in fds.iterdir()]


def _assert_keeps_no_files(runtime: Path) -> None:
    """Between commands the background process and its workers hold sockets, pipes,
    epoll/pidfd handles, /dev/null and (the background process alone, as its lock) the
    private directory: no file, no terminal. The directory holds only the socket."""
    assert wait_for(_no_run_left, timeout=30), "a command's process is left"
    pids = _keeper_and_workers()
    assert len(pids) >= 2, pids
    for pid in pids:
        for target in _open_files(pid):
            assert (
                target.startswith(("socket:[", "pipe:[", "anon_inode:"))
                or target == os.devnull
                or (target == str(runtime) and pid == pids[0])
            ), f"{process_name(pid)} ({pid}) holds {target}"
        assert process_name(pid) in ("hostops-keeper", "hostops-keeper-")  # comm: 15 chars
    assert os.listdir(runtime) == ["keeper.sock"]


def test_the_background_process_keeps_no_files_and_stop_removes_everything(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """After commands handed it a terminal, pipes and files, it holds none of them; after
    `hostops persist --stop` it is gone and so is its socket."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:3])
    runtime = Path(os.environ["XDG_RUNTIME_DIR"]) / "hostops"
    out = tmp_path / "out.txt"
    with open(out, "w") as stdout:  # a file as stdout: handed over, then let go
        r = run_hostops("run", "echo one", "--hosts", str(inv), "--persist", "5m", stdout=stdout)
    assert r.returncode == 0, r.stderr
    assert out.read_text().count("| one") == 3
    r, _screen = run_hostops_on_tty(  # a terminal handed over (for prompts), then let go
        "run", "echo two", "--hosts", str(inv), "--persist", "5m", "-o", "json", answers=[]
    )
    assert r.returncode == 0, r.stderr
    assert {o["reused"] for o in json_results(r.stdout).values()} == {True}
    for _ in range(3):  # descriptors do not pile up run after run
        r = run_hostops("run", "true", "--hosts", str(inv), "--persist", "5m")
        assert r.returncode == 0, r.stderr
    # The client has its exit code before the command's process has ended: count only once
    # it has (else that process, and the background process's socket to it, are counted).
    assert wait_for(_no_run_left, timeout=30), "a command's process is left"
    pids = _keeper_and_workers()
    before = _descriptor_counts(pids)
    for _ in range(3):
        r = run_hostops("run", "true", "--hosts", str(inv), "--persist", "5m")
        assert r.returncode == 0, r.stderr
    _assert_keeps_no_files(runtime)
    assert _descriptor_counts(pids) == before
    r = run_hostops("persist", "--stop")
    assert r.returncode == 0 and "closed 3 kept connection(s)" in r.stderr, r.stderr
    assert wait_for(lambda: not any(process_name(p) for p in pids), timeout=30)
    assert os.listdir(runtime) == []
    assert control.ask("status") is None


def test_no_secret_outlives_a_warm_run(
    password_fleet: SshdFleet, accounts: Accounts, tmp_path: Path, isolated_home: Path
) -> None:
    """The leak test (test_secrets_leak) through the background process: a password, a
    key passphrase and a sudo password, prompted for and then from the environment; while
    the commands run and after, no process's environment or command line holds one (but
    the thin client's environment, where the user put it), nor any output, record or file;
    the connections stay, the sudo password does not."""
    secret = accounts.secret
    finder = _Finder(secret)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)  # read by root: the commands run with --sudo
    key = _encrypted_key(tmp_path / "encrypted", secret)
    with open(password_fleet.authorized_keys, "a") as f:
        f.write(Path(f"{key}.pub").read_text())
    pw, keyed = password_fleet.hosts
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"defaults:\n  known_hosts: {password_fleet.known_hosts}\n"
        f"  user: {accounts.password_user}\nhosts:\n"
        f"  pw:\n    address: {pw.address}\n    port: {pw.port}\n"
        f"  keyed:\n    address: {keyed.address}\n    port: {keyed.port}\n"
        f"    identity_file: {key}\n"
    )
    runtime = Path(os.environ["XDG_RUNTIME_DIR"]) / "hostops"
    command = f"id -un; cat {fifo}; echo released"
    warm = ("--sudo", "--persist", "5m", "-o", "json")
    expected = dict.fromkeys(("pw", "keyed"), "root\nreleased\n")

    def used_each_secret(tails: tuple[LogTail, LogTail]) -> None:
        assert "Accepted password for" in tails[0].new(), "the password was not used"
        assert "Accepted publickey for" in tails[1].new(), "the passphrase was not used"

    # 1. Prompted for on the caller's terminal.
    tails = (LogTail(pw.log), LogTail(keyed.log))
    seen: list[int] = []
    watcher = _release_when_blocked(fifo, 2, finder, secret_in_env=False, seen=seen)
    r, screen = run_hostops_on_tty(
        "run",
        command,
        "--hosts",
        str(inv),
        "--ask-pass",
        "--ask-key-pass",
        "--ask-sudo-pass",
        "--debug",
        *warm,
        answers=[secret] * 3,
    )
    watcher.join()
    assert r.returncode == 0, r.stderr
    assert {n: o["stdout"] for n, o in json_results(r.stdout).items()} == expected
    assert screen.count(b"hostops: ") == 3
    used_each_secret(tails)
    for where, data in (("stdout 1", r.stdout), ("stderr 1", r.stderr), ("terminal", screen)):
        finder.check(where, data)
    _assert_keeps_no_files(runtime)
    finder.processes(set())  # the run is over: no process at all may hold it

    # 2. From the environment, to a background process started anew by a client that has
    # them in its environment (and hands its environment over with each command).
    stopped = run_hostops("persist", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert wait_for(lambda: control.ask("status") is None, timeout=30)
    env = {
        **os.environ,
        "LAB_KEEP_PW": secret,  # the login password, named by the inventory (password_env)
        "HOSTOPS_KEY_PASSPHRASE": secret,
        "HOSTOPS_SUDO_PASSWORD": secret,
    }
    named = tmp_path / "named.yaml"
    named.write_text(
        inv.read_text().replace("defaults:\n", "defaults:\n  password_env: LAB_KEEP_PW\n")
    )
    tails = (LogTail(pw.log), LogTail(keyed.log))
    watcher = _release_when_blocked(fifo, 2, finder, secret_in_env=True, seen=seen)
    r = run_hostops("run", command, "--hosts", str(named), "--debug", *warm, env=env)
    watcher.join()
    assert r.returncode == 0, r.stderr
    assert {n: o["stdout"] for n, o in json_results(r.stdout).items()} == expected
    used_each_secret(tails)
    finder.check("stdout 2", r.stdout)
    finder.check("stderr 2", r.stderr)
    assert len(seen) == 4 and seen[1] == 2 and seen[3] == 2, "the commands were not all blocked"
    _assert_keeps_no_files(runtime)
    assert finder.processes(set()) > 10

    # 3. A later sudo needs the password again: the kept connections are used (no login),
    # and sudo fails as in a cold run that was given no sudo password.
    tails = (LogTail(pw.log), LogTail(keyed.log))
    logins = {k: v for k, v in env.items() if k != "HOSTOPS_SUDO_PASSWORD"}
    r = run_hostops("run", "id -un", "--hosts", str(named), *warm, env=logins)
    assert r.returncode == 1, r.stderr
    warm_res = json_results(r.stdout)
    assert {o["reused"] for o in warm_res.values()} == {True}
    assert "Accepted" not in tails[0].new() + tails[1].new()
    cold = run_hostops("run", "id -un", "--hosts", str(named), "--sudo", "-o", "json", env=logins)
    assert cold.returncode == 1, cold.stderr
    cold_res = json_results(cold.stdout)
    assert {n: (o["status"], o["error"], o["stdout"]) for n, o in warm_res.items()} == {
        n: (o["status"], o["error"], o["stdout"]) for n, o in cold_res.items()
    }
    assert {o["status"] for o in warm_res.values()} == {"failed"}
    assert all("sudo asked for a password" in str(o["error"]) for o in warm_res.values())
    for where, data in (("stdout 3", r.stdout), ("stderr 3", r.stderr), ("cold", cold.stdout)):
        finder.check(where, data)

    files = sum(finder.files(root) for root in (isolated_home, tmp_path, runtime))
    assert files > 5  # the run records at least
    finder.processes(set())
    assert finder.found == []
