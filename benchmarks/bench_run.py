"""Time ``hostops run "uptime"`` against pssh, paramiko, asyncssh (and Ansible) on a loopback fleet.

One fleet of real sshd daemons (the largest size) is started once; each size N
uses its first N hosts, with a known_hosts file and inventories of just those
hosts. Every tool runs at fan-out N with the same user, client key and strict
host key checking against that known_hosts file, without the user's SSH agent
or ssh config. Runs are interleaved: each repetition runs every tool once, in a
shuffled order. A run counts only if every host's output contains
"load average", each host exactly once, and the tool exited 0; other runs are
reported as failures, not timed. Client CPU is the RUSAGE_CHILDREN delta around
the tool's process (it and its reaped children); server CPU is the delta of the
fleet's sshd daemons (their own and their reaped sessions' time).

Example: python benchmarks/bench_run.py --sizes 10,50,200 --runs 7 --output benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench_common import Target, replace_section, write_targets
from procstat import cpu_s

from hostops.testing import SshdFleet

HERE = Path(__file__).resolve().parent
COMMAND = "uptime"
EXPECTED = "load average"
DEFAULT_SIZES = (10, 50, 200)
DEFAULT_TOOLS = (
    "hostops",
    "pssh",
    "pssh-curve25519",
    "paramiko-pool",
    "paramiko-pool-reparse",
    "asyncssh",
)
# Targets of the issue, at N=200: hostops median wall time <= factor x peer's.
TARGETS = {"asyncssh": 1.0, "paramiko-pool": 1.0, "pssh": 0.3}
TARGET_N = 200
RECORD_RUNS = 7  # fewer runs (or sizes other than 10, 50, 200) make a smoke run
CURVE25519 = "curve25519-sha256"


# -- per-size files -------------------------------------------------------------------------
@dataclass(frozen=True)
class SizeSetup:
    """Files every tool needs to reach the first ``n`` hosts of the fleet."""

    n: int
    directory: Path
    names: tuple[str, ...]  # fleet host names, in fleet order
    user: str
    key: Path
    known_hosts: Path  # entries of these n hosts only
    inventory: Path  # hostops YAML
    targets: Path  # bench_common JSON, for the Python client scripts
    pssh_hosts: Path  # user@addr:port lines
    pssh_labels: dict[str, str]  # pssh's name of a host (its output file) -> fleet name
    ansible_inventory: Path
    ansible_config: Path


def ssh_options(setup: SizeSetup) -> list[str]:
    """OpenSSH ``-o`` options for pssh and Ansible: only the fleet's key and known_hosts."""
    return [
        f"UserKnownHostsFile={setup.known_hosts}",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
        f"IdentityFile={setup.key}",
        "IdentitiesOnly=yes",
        "BatchMode=yes",
    ]


def prepare_size(fleet: SshdFleet, n: int, root: Path) -> SizeSetup:
    """Write known_hosts, inventories and host lists of the fleet's first ``n`` hosts."""
    directory = root / f"n{n}"
    directory.mkdir(parents=True, exist_ok=True)
    hosts = fleet.hosts[:n]
    known = fleet.write_known_hosts(directory / "known_hosts", hosts)
    inventory = fleet.write_inventory(directory / "inventory.yaml", hosts, known_hosts=known)
    targets = write_targets(
        directory / "targets.json",
        [Target(h.name, h.address, h.port, fleet.user) for h in hosts],
    )
    labels = {f"{fleet.user}@{h.address}:{h.port}": h.name for h in hosts}
    pssh_hosts = directory / "pssh_hosts.txt"
    pssh_hosts.write_text("".join(f"{label}\n" for label in labels))
    ansible_inventory = directory / "ansible.ini"
    ansible_inventory.write_text(
        "[fleet]\n"
        + "".join(f"{h.name} ansible_host={h.address} ansible_port={h.port}\n" for h in hosts)
    )
    setup = SizeSetup(
        n=n,
        directory=directory,
        names=tuple(h.name for h in hosts),
        user=fleet.user,
        key=fleet.client_key,
        known_hosts=known,
        inventory=inventory,
        targets=targets,
        pssh_hosts=pssh_hosts,
        pssh_labels=labels,
        ansible_inventory=ansible_inventory,
        ansible_config=directory / "ansible.cfg",
    )
    setup.ansible_config.write_text(ansible_config_text(setup))
    return setup


def ansible_config_text(setup: SizeSetup) -> str:
    """ansible.cfg: strict host keys, one SSH connection per host, no ControlPersist reuse."""
    state = setup.directory / "ansible"
    common = " ".join(["-F /dev/null", *(f"-o {opt}" for opt in ssh_options(setup))])
    return (
        "[defaults]\n"
        f"home = {state}\n"
        f"local_tmp = {state}/local\n"
        f"remote_tmp = {state}/remote\n"
        f"remote_user = {setup.user}\n"
        f"private_key_file = {setup.key}\n"
        "host_key_checking = True\n"
        "interpreter_python = /usr/bin/python3\n"
        "nocolor = True\n"
        "timeout = 60\n"
        "[ssh_connection]\n"
        # No ControlMaster: every run opens fresh connections, like the other tools.
        "ssh_args = -o ControlMaster=no\n"
        f"ssh_common_args = {common}\n"
        "pipelining = True\n"
    )


# -- the tools -------------------------------------------------------------------------------
Outputs = list[tuple[str, str]]  # (fleet host name, what the tool reported for it)


class Tool(ABC):
    """A client under test: the command that runs it, and how to read what it reported."""

    def __init__(self, name: str) -> None:
        self.name = name

    def missing(self) -> str | None:
        """Why this tool cannot run here, or None."""
        return None

    @abstractmethod
    def argv(self, setup: SizeSetup, run_dir: Path) -> list[str]:
        """The command line for one run at fan-out ``setup.n``; ``run_dir`` is empty scratch."""

    @abstractmethod
    def outputs(self, setup: SizeSetup, run_dir: Path, stdout: str) -> Outputs:
        """Every host the tool reported on, with its output (or error), once per report."""

    def env(self, setup: SizeSetup, base: dict[str, str]) -> dict[str, str]:
        """The environment for a run (``base`` has no SSH agent)."""
        return base


def _json_lines(stdout: str) -> Iterator[dict[str, object]]:
    for line in stdout.splitlines():
        if line.strip():
            yield json.loads(line)


class Hostops(Tool):
    """``hostops run uptime --forks N -o json``, the installed console script."""

    def missing(self) -> str | None:
        return None if _hostops_script() else "the hostops command is not installed"

    def argv(self, setup: SizeSetup, run_dir: Path) -> list[str]:
        return [
            *(str(_hostops_script()), "run", COMMAND, "--hosts", str(setup.inventory)),
            *("--forks", str(setup.n), "--output", "json", "--no-agent", "--no-color"),
        ]

    def outputs(self, setup: SizeSetup, run_dir: Path, stdout: str) -> Outputs:
        return [
            (str(r["host"]), str(r["stdout"] if r["status"] == "ok" else r["error"]))
            for r in _json_lines(stdout)
        ]


def _hostops_script() -> str | None:
    """The console script beside this interpreter: the Python baselines run through
    sys.executable too, so no tool pays for a version manager's shim (pyenv's: ~20 ms)."""
    beside = Path(sys.executable).parent / "hostops"
    return str(beside) if beside.exists() else shutil.which("hostops")


class Pssh(Tool):
    """Debian's parallel-ssh, output to one file per host; ``kex`` pins KexAlgorithms."""

    def __init__(self, name: str, kex: str | None = None) -> None:
        super().__init__(name)
        self.kex = kex

    def missing(self) -> str | None:
        return None if shutil.which("parallel-ssh") else "parallel-ssh not found (apt install pssh)"

    def argv(self, setup: SizeSetup, run_dir: Path) -> list[str]:
        options = ssh_options(setup) + ([f"KexAlgorithms={self.kex}"] if self.kex else [])
        return [
            *("parallel-ssh", "-h", str(setup.pssh_hosts), "-p", str(setup.n), "-t", "0"),
            *("-o", str(run_dir / "out"), "-x", "-F /dev/null"),
            *(arg for opt in options for arg in ("-O", opt)),
            COMMAND,
        ]

    def outputs(self, setup: SizeSetup, run_dir: Path, stdout: str) -> Outputs:
        out_dir = run_dir / "out"
        files = sorted(out_dir.iterdir()) if out_dir.is_dir() else []
        # A host seen twice gets a second file "<label>.1": map it to the same host.
        return [
            (_pssh_host(setup, f.name), f.read_text(errors="replace")) for f in files if f.is_file()
        ]


def _pssh_host(setup: SizeSetup, file_name: str) -> str:
    label = file_name if file_name in setup.pssh_labels else file_name.rsplit(".", 1)[0]
    return setup.pssh_labels.get(label, file_name)


class PythonClient(Tool):
    """One of this directory's client scripts, run by this Python, with extra options."""

    def __init__(self, name: str, script: str, module: str, *extra: str) -> None:
        super().__init__(name)
        self.script = HERE / script
        self.module = module
        self.extra = extra

    def missing(self) -> str | None:
        if importlib.util.find_spec(self.module) is None:
            return f"Python module {self.module} is not installed (pip install {self.module})"
        return None

    def argv(self, setup: SizeSetup, run_dir: Path) -> list[str]:
        return [
            *(sys.executable, str(self.script), "--targets", str(setup.targets)),
            *("--key", str(setup.key), "--known-hosts", str(setup.known_hosts)),
            *("--command", COMMAND, *self.extra),
        ]

    def outputs(self, setup: SizeSetup, run_dir: Path, stdout: str) -> Outputs:
        return [
            (str(r["host"]), str(r["stdout"] if r["ok"] else r["error"]))
            for r in _json_lines(stdout)
        ]


class Ansible(Tool):
    """``ansible all -m command -a uptime -f N``, ad-hoc, in its default output mode."""

    def __init__(self, name: str, binary: str) -> None:
        super().__init__(name)
        self.binary = binary

    def missing(self) -> str | None:
        found = shutil.which(self.binary)
        return None if found else f"{self.binary} not found (pip install ansible-core)"

    def argv(self, setup: SizeSetup, run_dir: Path) -> list[str]:
        return [
            *(self.binary, "all", "-i", str(setup.ansible_inventory)),
            *("-m", "command", "-a", COMMAND, "-f", str(setup.n)),
        ]

    def env(self, setup: SizeSetup, base: dict[str, str]) -> dict[str, str]:
        return {**base, "ANSIBLE_CONFIG": str(setup.ansible_config)}

    def outputs(self, setup: SizeSetup, run_dir: Path, stdout: str) -> Outputs:
        # The ad-hoc "minimal" output: a header per host, "host01 | CHANGED | rc=0 >>" or
        # "host02 | UNREACHABLE! => {", then that host's output up to the next header.
        blocks: Outputs = []
        for line in stdout.splitlines():
            header = _ANSIBLE_HEADER.match(line)
            if header:
                blocks.append((header.group(1), ""))
            elif blocks:
                blocks[-1] = (blocks[-1][0], blocks[-1][1] + line + "\n")
        return blocks


_ANSIBLE_HEADER = re.compile(r"^(\S+) \| [A-Z]+!?(?: \| rc=-?\d+ >>| =>|$)")


def make_tools(names: list[str], ansible_binary: str) -> list[Tool]:
    """The tools called ``names``, in that order."""
    factories = {
        "hostops": lambda: Hostops("hostops"),
        "pssh": lambda: Pssh("pssh"),
        "pssh-curve25519": lambda: Pssh("pssh-curve25519", CURVE25519),
        "paramiko-pool": lambda: PythonClient("paramiko-pool", "paramiko_pool.py", "paramiko"),
        "paramiko-pool-reparse": lambda: PythonClient(
            "paramiko-pool-reparse", "paramiko_pool.py", "paramiko", "--reparse-known-hosts"
        ),
        "asyncssh": lambda: PythonClient("asyncssh", "asyncssh_gather.py", "asyncssh"),
        "ansible": lambda: Ansible("ansible", ansible_binary),
    }
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise SystemExit(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(factories)}")
    return [factories[n]() for n in names]


# -- one run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One run of one tool at one size. Times count only when ``error`` is None."""

    tool: str
    n: int
    rep: int  # 0 for warm-up runs, which are not reported
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def verify(expected: tuple[str, ...], outputs: Outputs, returncode: int) -> str | None:
    """Why the run does not count (None if every host reported EXPECTED exactly once)."""
    counts = Counter(name for name, _ in outputs)
    problems = []
    if returncode != 0:
        problems.append(f"exit status {returncode}")
    checks = {
        "missing": [n for n in expected if n not in counts],
        "unexpected": sorted(set(counts) - set(expected)),
        "reported more than once": sorted(n for n, c in counts.items() if c > 1),
        f"no {EXPECTED!r} in output": sorted({n for n, text in outputs if EXPECTED not in text}),
    }
    for what, names in checks.items():
        if names:
            problems.append(f"{what}: {_few(names)}")
    bad = next((text for _, text in outputs if EXPECTED not in text), None)
    if bad is not None:
        problems.append(f"e.g. {_one_line(bad)!r}")
    return "; ".join(problems) or None


def _few(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def children_cpu_s() -> float:
    """User + system CPU of this process's terminated, reaped children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(
    tool: Tool, setup: SizeSetup, rep: int, env: dict[str, str], timeout: float, pids: list[int]
) -> Sample:
    """Run ``tool`` once on ``setup``, time it, and verify what every host returned."""
    run_dir = setup.directory / f"run-{tool.name}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    argv = tool.argv(setup, run_dir)
    server_before = cpu_s(pids)
    done = run_timed(argv, run_dir, tool.env(setup, env), timeout)
    time.sleep(0.2)  # let sshd reap the sessions before reading its CPU
    server_cpu = cpu_s(pids) - server_before
    if done.timed_out:
        error: str | None = f"timed out after {timeout:g} s"
    else:
        try:
            error = verify(setup.names, tool.outputs(setup, run_dir, done.stdout), done.returncode)
        except (ValueError, KeyError, TypeError) as exc:
            error = f"unreadable output ({type(exc).__name__}: {exc})"
    if error:
        err_tail = _one_line(done.stderr[-400:])
        error += f" [stderr: {err_tail}]" if err_tail else ""
    shutil.rmtree(run_dir, ignore_errors=True)
    return Sample(tool.name, setup.n, rep, done.wall_s, done.client_cpu_s, server_cpu, error)


@dataclass(frozen=True)
class Finished:
    """A tool's process, run to its end or killed at the timeout."""

    wall_s: float
    client_cpu_s: float  # the process and the children it reaped
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool


def run_timed(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Finished:
    """Run ``argv`` once with no input, and time it (wall and reaped-children CPU)."""
    cpu_before = children_cpu_s()
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a timeout kills the tool with its children
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        timed_out = True
    wall = time.perf_counter() - start
    client_cpu = children_cpu_s() - cpu_before
    return Finished(
        wall,
        client_cpu,
        proc.returncode,
        stdout.decode("utf-8", "replace"),
        stderr.decode("utf-8", "replace"),
        timed_out,
    )


# -- the benchmark ---------------------------------------------------------------------------
def clean_env() -> dict[str, str]:
    """This environment without the user's SSH agent, and with Python writing bytecode
    caches: a machine with PYTHONDONTWRITEBYTECODE set would make every Python tool
    installed from source (an editable hostops) compile its modules on every start
    (~45 ms for hostops), which no installed tool does; the warm-up run writes them."""
    drop = {"SSH_AUTH_SOCK", "SSH_AGENT_PID", "PYTHONDONTWRITEBYTECODE"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def raise_nofile_limit(needed: int) -> int:
    """Raise this process's (and so its children's) soft open-files limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, needed) if hard == resource.RLIM_INFINITY else max(soft, min(hard, 65536))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        raise SystemExit(f"open-files hard limit {hard} is below the {needed} this run needs")
    return wanted


def benchmark(
    fleet: SshdFleet, tools: list[Tool], sizes: list[int], args: argparse.Namespace
) -> list[Sample]:
    """Every size, ``args.warmup`` untimed then ``args.runs`` timed interleaved repetitions."""
    rng = random.Random(args.seed)
    env = clean_env()
    pids = [h.pid for h in fleet.hosts]
    samples: list[Sample] = []
    for n in sizes:
        setup = prepare_size(fleet, n, Path(fleet.root).parent)
        samples += interleaved(
            tools,
            rng,
            args.warmup,
            args.runs,
            lambda tool, rep, setup=setup: run_once(tool, setup, rep, env, args.run_timeout, pids),
            _progress,
        )
    return samples


T = TypeVar("T")
S = TypeVar("S")


def interleaved(
    tools: list[T],
    rng: random.Random,
    warmup: int,
    runs: int,
    once: Callable[[T, int], S],
    progress: Callable[[S, int], None],
) -> list[S]:
    """``warmup`` untimed then ``runs`` timed repetitions, each tool once per repetition
    in a shuffled order (so drifting load spreads over every tool); the timed samples.
    ``once(tool, rep)`` gets rep 0 for a warm-up."""
    samples: list[S] = []
    for rep in range(1 - warmup, runs + 1):
        order = list(tools)
        rng.shuffle(order)
        for tool in order:
            sample = once(tool, max(rep, 0))
            progress(sample, runs)
            if rep > 0:
                samples.append(sample)
    return samples


def _progress(s: Sample, runs: int) -> None:
    rep = f"run {s.rep}/{runs}" if s.rep else "warm-up"
    status = "ok" if s.ok else f"FAILED: {s.error}"
    print(
        f"N={s.n:<4} {rep:<9} {s.tool:<22} {s.wall_s:7.2f} s  "
        f"cpu/host {1000 * s.client_cpu_s / s.n:6.1f} ms  {status}",
        file=sys.stderr,
        flush=True,
    )


# -- the report ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """The counted runs of one tool at one size."""

    tool: str
    n: int
    ok: int
    failed: int
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    client_ms_per_host: float | None = None  # medians over counted runs
    server_ms_per_host: float | None = None
    first_error: str | None = None

    @property
    def spread(self) -> float | None:
        """(max - min) / median, when there are two counted runs or more."""
        if self.ok < 2 or self.median_s is None or self.max_s is None or self.min_s is None:
            return None
        return (self.max_s - self.min_s) / self.median_s


def summarize(samples: list[Sample], tool: str, n: int) -> Stats:
    """Median, min, max of the counted runs of ``tool`` at ``n``; failures counted apart."""
    runs = [s for s in samples if s.tool == tool and s.n == n]
    good = [s for s in runs if s.ok]
    failed = [s for s in runs if not s.ok]
    first_error = failed[0].error if failed else None
    if not good:
        return Stats(tool, n, 0, len(failed), first_error=first_error)
    walls = [s.wall_s for s in good]
    return Stats(
        tool,
        n,
        len(good),
        len(failed),
        statistics.median(walls),
        min(walls),
        max(walls),
        statistics.median(1000 * s.client_cpu_s / n for s in good),
        statistics.median(1000 * s.server_cpu_s / n for s in good),
        first_error,
    )


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def machine_info(ansible_binary: str | None) -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    info = {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": cpu,
        "kernel": f"{platform.system()} {platform.release()}",
        "OpenSSH": _command_line(["ssh", "-V"]),
        "Python": platform.python_version(),
        "hostops": _version("hostops"),
        "paramiko": _version("paramiko"),
        "asyncssh": _version("asyncssh"),
        "pssh": _command_line(["parallel-ssh", "--version"]),
    }
    if ansible_binary:
        info["ansible-core"] = _command_line([ansible_binary, "--version"])
    return info


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _command_line(argv: list[str]) -> str:
    """First line a command prints (on stdout or stderr)."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return ((proc.stdout or proc.stderr).strip().splitlines() or ["?"])[0]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Report:
    """Everything RESULTS.md shows."""

    command: str
    sizes: list[int]
    tools: list[str]
    runs: int
    warmup: int
    seed: int
    info: dict[str, str]
    load_before: str
    load_after: str
    started: str
    duration_s: float
    samples: list[Sample]

    def stats(self, tool: str, n: int) -> Stats:
        return summarize(self.samples, tool, n)

    @property
    def is_record(self) -> bool:
        """A full run per the issue (else: a smoke run, not to be quoted)."""
        return (
            self.runs >= RECORD_RUNS
            and set(DEFAULT_SIZES) <= set(self.sizes)
            and set(DEFAULT_TOOLS) <= set(self.tools)
        )


def render(report: Report) -> str:
    """RESULTS.md."""
    lines = ["# hostops benchmark: `run uptime` on a loopback sshd fleet", ""]
    if not report.is_record:
        lines += [
            f"> **SMOKE RUN — not the benchmark of record.** Only {report.runs} run(s) per tool, "
            f"sizes {', '.join(map(str, report.sizes))}. The full run is "
            f"`--sizes 10,50,200 --runs {RECORD_RUNS}` with all default tools (command below).",
            "",
        ]
    lines += [
        "Written by `benchmarks/bench_run.py`; see `benchmarks/README.md` for the method.",
        "",
        "Reproduce (from the repository root):",
        "",
        "```sh",
        report.command,
        "```",
        "",
        f"Started {report.started}, took {report.duration_s / 60:.1f} min; "
        f"{report.runs} timed run(s) per tool and size after {report.warmup} warm-up, "
        f"interleaved in a shuffled order (seed {report.seed}). "
        f"Load average before: {report.load_before}; after: {report.load_after}.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in report.info.items()),
        "",
    ]
    for n in report.sizes:
        lines += _size_table(report, n)
    lines += _ratio_table(report)
    lines += _target_lines(report)
    lines += ["## Observations", "", *(f"- {o}" for o in observations(report)), ""]
    return "\n".join(lines)


def _size_table(report: Report, n: int) -> list[str]:
    hostops = report.stats("hostops", n) if "hostops" in report.tools else None
    lines = [
        f"## N = {n}",
        "",
        "| tool | runs ok | failed | wall median (s) | min | max | spread | "
        "client CPU/host (ms) | server CPU/host (ms) | hostops ÷ tool |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors = []
    for tool in report.tools:
        s = report.stats(tool, n)
        r = ratio(hostops.median_s, s.median_s) if hostops and tool != "hostops" else None
        lines.append(
            f"| {tool} | {s.ok} | {s.failed} | {fmt(s.median_s)} | {fmt(s.min_s)} | "
            f"{fmt(s.max_s)} | {fmt(s.spread and 100 * s.spread, '.0f', ' %')} | "
            f"{fmt(s.client_ms_per_host, '.1f')} | {fmt(s.server_ms_per_host, '.1f')} | "
            f"{fmt(r, '.2f', 'x')} |"
        )
        if s.first_error:
            errors.append(f"- {tool}: {s.failed} failed run(s), first: {s.first_error}")
    return [*lines, "", *([*errors, ""] if errors else [])]


def _ratio_table(report: Report) -> list[str]:
    if "hostops" not in report.tools:
        return []
    peers = [t for t in report.tools if t != "hostops"]
    lines = [
        "## hostops ÷ peer (median wall time; client CPU per host in brackets)",
        "",
        "| peer | " + " | ".join(f"N={n}" for n in report.sizes) + " |",
        "|---|" + "---:|" * len(report.sizes),
    ]
    for peer in peers:
        cells = []
        for n in report.sizes:
            h, p = report.stats("hostops", n), report.stats(peer, n)
            wall = ratio(h.median_s, p.median_s)
            cpu = ratio(h.client_ms_per_host, p.client_ms_per_host)
            cells.append(f"{fmt(wall, '.2f', 'x')} ({fmt(cpu, '.2f', 'x')})")
        lines.append(f"| {peer} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _target_lines(report: Report) -> list[str]:
    lines = [f"## Targets (N={TARGET_N}, median wall time)", ""]
    if TARGET_N not in report.sizes or "hostops" not in report.tools:
        return [*lines, f"Not evaluated: this run has no hostops at N={TARGET_N}.", ""]
    h = report.stats("hostops", TARGET_N)
    for peer, limit in TARGETS.items():
        if peer not in report.tools:
            lines.append(f"- hostops ≤ {limit}x {peer}: not measured")
            continue
        r = ratio(h.median_s, report.stats(peer, TARGET_N).median_s)
        verdict = "no data" if r is None else ("**met**" if r <= limit else "**missed**")
        lines.append(f"- hostops ≤ {limit}x {peer}: {fmt(r, '.2f', 'x')} — {verdict}")
    return [*lines, ""]


def observations(report: Report) -> list[str]:
    """Short, data-derived remarks; the reader draws the conclusions."""
    notes = []
    for n in report.sizes:
        ranked = sorted(
            (s for s in (report.stats(t, n) for t in report.tools) if s.median_s is not None),
            key=lambda s: s.median_s or 0.0,
        )
        if ranked:
            order = ", ".join(f"{s.tool} {s.median_s:.2f} s" for s in ranked)
            notes.append(f"N={n}, fastest first by median wall time: {order}.")
    notes += _pair_note(
        report, "paramiko-pool-reparse", "paramiko-pool", "re-parsing known_hosts per connection"
    )
    notes += _pair_note(report, "pssh", "pssh-curve25519", "OpenSSH's default key exchange")
    if "hostops" in report.tools and len(report.sizes) > 1:
        per_host = [report.stats("hostops", n).median_s for n in report.sizes]
        if all(per_host):
            cells = ", ".join(
                f"{1000 * t / n:.0f} ms at N={n}"
                for t, n in zip(per_host, report.sizes, strict=True)
                if t
            )
            notes.append(f"hostops wall time per host: {cells}.")
    failed = [s for s in report.samples if not s.ok]
    if failed:
        notes.append(
            f"{len(failed)} run(s) failed verification and are not timed; "
            f"first: {failed[0].tool} at N={failed[0].n}: {failed[0].error}"
        )
    else:
        notes.append("Every run passed verification (each host once, with 'load average').")
    spreads = [
        (s.spread, s.tool, s.n)
        for s in (report.stats(t, n) for t in report.tools for n in report.sizes)
        if s.spread is not None and s.ok > 1
    ]
    if spreads:
        worst = max(spreads)
        notes.append(
            f"Largest spread: {100 * worst[0]:.0f} % ({worst[1]} at N={worst[2]}). Client and "
            "sshd daemons share this machine's CPUs, so wall time includes the server side."
        )
    return notes


def _pair_note(report: Report, tool: str, base: str, what: str) -> list[str]:
    if tool not in report.tools or base not in report.tools:
        return []
    cells = []
    for n in report.sizes:
        r = ratio(report.stats(tool, n).median_s, report.stats(base, n).median_s)
        cells.append(f"{fmt(r, '.2f', 'x')} at N={n}")
    return [f"{tool} ÷ {base} ({what}): {', '.join(cells)}."]


# -- command line ----------------------------------------------------------------------------
def _int_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_int_list, default=list(DEFAULT_SIZES), help="fleet sizes")
    parser.add_argument("--runs", type=int, default=RECORD_RUNS, help="timed runs per tool and N")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool and N first")
    parser.add_argument(
        "--tools",
        default=",".join(DEFAULT_TOOLS),
        help=f"comma-separated, from: {', '.join(DEFAULT_TOOLS)}, ansible",
    )
    parser.add_argument(
        "--with-ansible", action="store_true", help="also time Ansible ad-hoc (slow)"
    )
    parser.add_argument(
        "--ansible-bin", default="ansible", help="the ansible command [default: from PATH]"
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="results file")
    parser.add_argument("--json", type=Path, help="also write every sample to this JSON file")
    parser.add_argument("--seed", type=int, default=1, help="seed of the run order shuffle")
    parser.add_argument(
        "--run-timeout", type=float, default=600.0, help="seconds before a run is killed"
    )
    parser.add_argument("--address-base", type=int, default=77, help="fleet on 127.BASE.x.y")
    parser.add_argument(
        "--user",
        help="who every tool logs in as: an existing local account [default: the current user]",
    )
    parser.add_argument("--workdir", type=Path, help="keep fleet and files here [default: temp]")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    args.tools = [t for t in args.tools.split(",") if t]
    if args.with_ansible and "ansible" not in args.tools:
        args.tools.append("ansible")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = make_tools(args.tools, args.ansible_bin)
    problems = [f"{t.name}: {why}" for t in tools if (why := t.missing())]
    if problems:
        raise SystemExit("cannot run: " + "; ".join(problems))
    sizes = sorted(set(args.sizes))
    raise_nofile_limit(8 * max(sizes) + 256)
    shown_argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/bench_run.py", *shown_argv])
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = load_average()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hostops-bench-"))
    try:
        print(f"starting {max(sizes)} sshd under {workdir}", file=sys.stderr, flush=True)
        if args.user:  # sshd reads the fleet's authorized_keys as that user
            workdir.chmod(0o755)
        fleet_dir = workdir / "fleet"
        with SshdFleet(
            fleet_dir, max(sizes), address_base=args.address_base, user=args.user
        ) as fleet:
            samples = benchmark(fleet, tools, sizes, args)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report = Report(
        command=command,
        sizes=sizes,
        tools=[t.name for t in tools],
        runs=args.runs,
        warmup=args.warmup,
        seed=args.seed,
        info=machine_info(args.ansible_bin if "ansible" in args.tools else None),
        load_before=load_before,
        load_after=load_average(),
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        duration_s=(datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(),
        samples=samples,
    )
    replace_section(args.output, "run", render(report))
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(s) for s in samples], indent=1))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if all(s.ok for s in samples) else 1


if __name__ == "__main__":
    sys.exit(main())
