"""pytest fixtures for testing against a real sshd fleet.

Enable with ``pytest_plugins = ["hostops.testing.pytest_plugin"]`` in a conftest.
A missing sshd is an error, never a skip: the tests exist to exercise real SSH.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, overload

import pytest

from hostops.keeper import control
from hostops.testing.fleet import SshdFleet

FLEET_SIZE = int(os.environ.get("HOSTOPS_TEST_FLEET_SIZE", "50"))


@contextlib.contextmanager
def temporary_fleet(count: int, **kw: Any) -> Iterator[SshdFleet]:
    """An :class:`SshdFleet` of ``count`` daemons in a new temporary directory, removed after.

    The directory is world-traversable (pytest's own tmp dirs are not): sshd
    reads authorized_keys as the user logging in, who may not be us.
    """
    root = tempfile.mkdtemp(prefix="hostops-fleet-")
    try:
        with SshdFleet(root, count, **kw) as fleet:
            yield fleet
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_fleet() -> Iterator[SshdFleet]:
    """A session-wide fleet of real sshd daemons (``HOSTOPS_TEST_FLEET_SIZE``, default 50)."""
    with temporary_fleet(FLEET_SIZE) as fleet:
        yield fleet


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Keep the user's ~/.ssh (config, keys, known_hosts), agent and XDG dirs out of every
    test; a background process of warm runs that a test started is stopped after it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in (
        "SSH_AUTH_SOCK",
        "HOSTOPS_INVENTORY",
        "NO_COLOR",
        "HOSTOPS_PERSIST",
        "HOSTOPS_CONFIG",  # a configuration file: XDG_CONFIG_HOME below, empty
        "HOSTOPS_COMPLETE_DYNAMIC",
    ):
        monkeypatch.delenv(var, raising=False)
    for var, sub in (
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    runtime = home / ".run"  # the background process's socket: private to the test
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    yield home
    stop_background_process()


def stop_background_process() -> None:
    """Stop the background process of warm runs of this environment, if one runs, and
    wait until it is gone."""
    try:
        answer = control.ask("status")
    except OSError:
        return
    if answer is None:
        return
    pid = int(answer["pid"])
    with contextlib.suppress(OSError):
        control.ask("stop")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.05)


def process_alive(pid: int) -> bool:
    """Process ``pid`` exists and has not ended (a zombie waiting for its parent has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][:1] != "Z"
    return True


def hostops_argv(*args: str) -> list[str]:
    """The command line of the real CLI: ``python -m hostops ARGS`` (this interpreter)."""
    return [sys.executable, "-m", "hostops", *args]


@overload
def run_hostops(
    *args: str,
    timeout: float = ...,
    input: str | None = ...,
    text: Literal[True] = ...,
    **kw: Any,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_hostops(
    *args: str, timeout: float = ..., input: bytes | None = ..., text: Literal[False], **kw: Any
) -> subprocess.CompletedProcess[bytes]: ...


def run_hostops(
    *args: str,
    timeout: float = 120,
    input: str | bytes | None = None,
    text: bool = True,
    **kw: Any,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """Run the real CLI (``python -m hostops``) in a subprocess, as a user would, and
    return it finished, its output captured (text; bytes with ``text=False``).
    ``kw`` goes to :func:`subprocess.run` (``env``, ``cwd``, ``stdin``, ``stderr``...)."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        hostops_argv(*args), text=text, timeout=timeout, check=False, input=input, **kw
    )


def start_hostops(*args: str, **kw: Any) -> subprocess.Popen[str]:
    """Start the real CLI like :func:`run_hostops`, but return it while it runs, for tests
    that act on it midway (Ctrl-C, a killed worker, its memory). stdout and stderr are
    text pipes unless ``kw`` (for :class:`subprocess.Popen`) says otherwise."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(hostops_argv(*args), text=True, **kw)


def run_hostops_on_tty(
    *args: str, answers: list[str], timeout: float = 120, **kw: Any
) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """Run the real CLI with a pseudo-terminal as its controlling terminal, while its
    stdin, stdout and stderr are pipes (as in ``hostops ... | tee log``), typing the
    next of ``answers`` at each ``hostops: ...: `` prompt that appears on the terminal.

    Returns the finished process and everything that was written on the terminal
    (where a typed answer would show if echo were left on).
    """
    master, slave = os.openpty()
    # A new session's first terminal opened becomes its controlling terminal: open it,
    # then become hostops (no preexec_fn: unsafe in a process with threads).
    take_terminal = (
        "import os, sys; os.close(os.open(sys.argv[1], os.O_RDWR));"
        " os.execv(sys.executable, [sys.executable, '-m', 'hostops', *sys.argv[2:]])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", take_terminal, os.ttyname(slave), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kw,
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.communicate()))
    reader.start()
    screen = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        # The slave stays open here too, so the master never reads EIO while the
        # child has not opened it yet or between prompts: the end is the child's exit.
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                break
            ready, _, _ = select.select([master], [], [], 0.1)
            if not ready:
                continue
            screen += os.read(master, 4096)
            asked = screen.count(b"hostops: ")
            # A whole prompt not answered yet: type the next answer.
            if pending and asked > len(answers) - len(pending) and screen.endswith(b": "):
                os.write(master, pending.pop(0).encode() + b"\n")
    finally:
        reader.join(timeout=30)
        os.close(master)
        os.close(slave)
    assert len(out) == 2, "hostops did not finish"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out[0], out[1]), screen


def json_results(stdout: str) -> dict[str, dict[str, object]]:
    """Parse ``--output json`` stdout by host; every line must be one JSON object."""
    out: dict[str, dict[str, object]] = {}
    for line in stdout.splitlines():
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        out[str(obj["host"])] = obj
    return out


def sleep_tag(seconds: int) -> str:
    """A remote ``sleep`` argument that :func:`sleep_pids` finds again and no other test
    uses: ``SECONDS.NNNNNN`` (random decimals; ``sleep 3.123456`` sleeps about 3 s)."""
    return f"{seconds}.{secrets.randbelow(10**6):06d}"


def sleep_pids(tag: str) -> list[int]:
    """PIDs of ``sleep TAG...`` processes: tests run ``sleep 3001.123456`` remotely to find
    their commands again. Anchored, since the shells that started them (and hostops
    itself) carry the text in their command lines too."""
    r = subprocess.run(
        ["pgrep", "-f", f"^sleep {tag}"], capture_output=True, text=True, check=False
    )
    return [int(p) for p in r.stdout.split()]


class SleepWatch:
    """While a run goes, watch for the ``sleep TAG`` processes it starts (in a thread),
    until ``expected`` are seen: proof that they ran, so that their absence afterwards
    (:meth:`gone`) means they were killed, not that they never started."""

    def __init__(self, tags: list[str], expected: int, timeout: float = 40) -> None:
        self.tags = tags
        self.seen: list[int] = []
        self._expected = expected
        self._timeout = timeout
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        end = time.monotonic() + self._timeout
        while time.monotonic() < end and len(self.seen) < self._expected:
            # Kept, not replaced: a look after some have ended must not forget them.
            now = [pid for tag in self.tags for pid in sleep_pids(tag)]
            self.seen += [pid for pid in now if pid not in self.seen]
            time.sleep(0.1)

    def __enter__(self) -> SleepWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()

    def gone(self, timeout: float = 10) -> bool:
        """True once none of the watched processes runs any more."""
        return wait_for(lambda: not any(sleep_pids(tag) for tag in self.tags), timeout=timeout)


def pss_kib(pids: list[int]) -> int:
    """Proportional set size of ``pids`` summed (shared pages counted once overall), KiB."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # it ended meanwhile
        total += next(int(x.split()[1]) for x in text.splitlines() if x.startswith("Pss:"))
    return total


def wait_for(predicate: Callable[[], bool], timeout: float = 20) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def descendant_pids(ppid: int) -> list[int]:
    """PIDs of the processes under ``ppid``, at any depth (a cold run's workers are
    children of its early process: hostops.keeper.early)."""
    found: list[int] = []
    stack = [ppid]
    while stack:
        children = child_pids(stack.pop())
        found += children
        stack += children
    return found


def process_name(pid: int) -> str:
    """The name of process ``pid`` (``/proc/PID/comm``: hostops names its processes
    ``hostops-worker``, ``hostops-aggr`` and ``hostops-early``); "" once it has ended."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def process_state(pid: int) -> str:
    """The state letter of process ``pid`` (``/proc/PID/stat``: R, S, T, Z, ...); "" once
    it has ended and been reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2]


def blocked_writing_to_a_pipe(pid: int) -> bool:
    """True while a thread of process ``pid`` sleeps in the kernel writing to a full pipe."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            if "pipe_write" in (task / "wchan").read_text():  # pipe_write, anon_pipe_write
                return True
        except OSError:
            continue  # it ended meanwhile
    return False


def child_pids(ppid: int) -> list[int]:
    """PIDs of the processes whose parent is ``ppid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # it ended meanwhile
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == ppid:
                out.append(int(entry))
    return out
