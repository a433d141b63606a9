"""Time a 10-task playbook on a loopback sshd fleet: ``hostops play`` against ``ansible-playbook``.

Both tools run the same tasks (``play10.yaml`` and its Ansible twin
``play10-ansible.yaml``) on every host of a fleet of real sshd daemons, at
fan-out N, with the fleet's key and strict host key checking against its
known_hosts file, no SSH agent and no user ssh config (bench_run's per-size
files). hostops keeps one connection per host for the whole playbook; Ansible
uses its own connection reuse: ControlMaster=auto, ControlPersist=60s,
pipelining on, forks N. Each run gets a fresh control-socket directory, so no run
reuses the connections of the one before; after each run (outside its time) the
masters it left are asked to exit, and their CPU, which RUSAGE_CHILDREN cannot
see (they detach), is read from /proc and reported apart.

Runs are interleaved (each repetition runs both tools in a shuffled order). A
run counts only if the tool exited 0, every host succeeded, each exactly once
(hostops: ``-o json`` status ok with the tasks' expected output lines; Ansible:
PLAY RECAP ok=13 (12 tasks and the handler) skipped=0 unreachable=0 failed=0), and the uploaded files were
removed again.

Example: python benchmarks/bench_play.py --hosts 50 --runs 5 \\
    --ansible-bin /opt/bench-ansible/bin/ansible-playbook
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench_common import replace_section
from bench_run import (
    Sample,
    SizeSetup,
    _few,
    _hostops_script,
    _one_line,
    ansible_config_text,
    clean_env,
    fmt,
    interleaved,
    load_average,
    machine_info,
    prepare_size,
    raise_nofile_limit,
    ratio,
    run_timed,
    summarize,
)
from procstat import cpu_s

from hostops.testing import SshdFleet

HERE = Path(__file__).resolve().parent
HOSTOPS_PLAYBOOK = HERE / "play10.yaml"
ANSIBLE_PLAYBOOK = HERE / "play10-ansible.yaml"
TASKS = 12  # a loop over 5 items and a template among them
HANDLERS = 1  # notified by the template, which always changes (a new file per run)
TARGET = 0.1  # issue 16's bound: hostops median wall time <= TARGET x ansible-playbook's
RECORD_HOSTS = 50
RECORD_RUNS = 5
PAYLOAD_BYTES = 4096
HOSTOPS, ANSIBLE = "hostops", "ansible-playbook"


# -- the tools -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """What one run of a tool gets: the fleet's files, a fresh scratch directory."""

    setup: SizeSetup
    directory: Path
    payload: Path

    @property
    def dest_dir(self) -> Path:
        """Where the playbook uploads its file (one per host) and removes it again."""
        return self.directory / "dest"

    def extra_vars(self) -> list[str]:
        return ["-e", f"payload={self.payload}", "-e", f"dest_dir={self.dest_dir}"]


class PlayTool(ABC):
    """A playbook runner under test."""

    name: str

    def missing(self) -> str | None:
        """Why this tool cannot run here, or None."""
        return None

    @abstractmethod
    def argv(self, run: Run) -> list[str]:
        """The command line of one run at fan-out ``run.setup.n``."""

    def env(self, run: Run, base: dict[str, str]) -> dict[str, str]:
        """The environment of a run (``base`` has no SSH agent)."""
        return base

    @abstractmethod
    def check(self, run: Run, stdout: str) -> list[str]:
        """Problems in what the tool reported (empty: every host ran every task once)."""

    def leftovers(self, run: Run) -> tuple[float, int]:
        """Stop the processes the run left running; their CPU (s) and their number."""
        return 0.0, 0


def expected_lines(user: str) -> set[str]:
    """Lines every host's output holds when all tasks ran (every host is this machine)."""
    return {
        platform.release(),  # uname -r
        Path("/etc/os-release").read_text().splitlines()[0],
        "yes",  # the registered test of /tmp
        "/tmp is a directory",  # the task under `when`
        str(PAYLOAD_BYTES),  # wc -c of the upload
        user,  # id -un
        *(f"item-{n}" for n in range(1, 6)),  # the loop
    }


class HostopsPlay(PlayTool):
    """``hostops play play10.yaml --forks N -o json``, the installed console script."""

    name = HOSTOPS

    def missing(self) -> str | None:
        return None if _hostops_script() else "the hostops command is not installed"

    def argv(self, run: Run) -> list[str]:
        return [
            *(str(_hostops_script()), "play", str(HOSTOPS_PLAYBOOK)),
            *("--hosts", str(run.setup.inventory), "--forks", str(run.setup.n)),
            *("--output", "json", "--no-record", "--no-agent", "--no-color"),
            *run.extra_vars(),
        ]

    def check(self, run: Run, stdout: str) -> list[str]:
        results = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        problems = _host_problems(run.setup.names, [str(r["host"]) for r in results])
        wanted = expected_lines(run.setup.user)
        results = [{**r, "stdout": f"{r['stdout']}\n"} for r in results]
        for r in results:  # the handler names its host
            wanted_here = wanted | {f"handler ran for {r['host']}"}
            r["missing"] = sorted(wanted_here - set(str(r["stdout"]).splitlines()))
        failed = [
            f"{r['host']}: {r['status']} ({r['error']})" for r in results if r["status"] != "ok"
        ]
        incomplete = [
            f"{r['host']} lacks {r['missing']}"
            for r in results
            if r["status"] == "ok" and r["missing"]
        ]
        problems += [f"not ok: {_few(failed)}"] if failed else []
        problems += [f"incomplete output: {_few(incomplete, 2)}"] if incomplete else []
        return problems


# One PLAY RECAP line: "host01   : ok=10   changed=2    unreachable=0    failed=0    skipped=0 ..."
_RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$")


class AnsiblePlay(PlayTool):
    """``ansible-playbook -f N play10-ansible.yaml``, default output, with its own ansible.cfg."""

    name = ANSIBLE

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def missing(self) -> str | None:
        found = shutil.which(self.binary)
        return None if found else f"{self.binary} not found (pip install ansible-core)"

    def argv(self, run: Run) -> list[str]:
        return [
            *(self.binary, "-i", str(run.setup.ansible_inventory), "-f", str(run.setup.n)),
            *(str(ANSIBLE_PLAYBOOK), *run.extra_vars()),
        ]

    def env(self, run: Run, base: dict[str, str]) -> dict[str, str]:
        return {
            **base,
            "ANSIBLE_CONFIG": str(play_config(run.setup)),
            # Fresh per run: a run must not find the previous run's masters still up.
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(_control_dir(run)),
        }

    def check(self, run: Run, stdout: str) -> list[str]:
        recap = stdout.rsplit("PLAY RECAP", 1)[-1] if "PLAY RECAP" in stdout else ""
        counts = {}
        hosts = []
        for line in recap.splitlines():
            match = _RECAP.match(line.strip())
            if match:
                hosts.append(match.group(1))
                fields = dict(f.split("=") for f in match.group(2).split())
                counts[match.group(1)] = {k: int(v) for k, v in fields.items()}
        problems = _host_problems(run.setup.names, hosts) if recap else ["no PLAY RECAP"]
        wanted = {"ok": TASKS + HANDLERS, "skipped": 0, "unreachable": 0, "failed": 0}
        bad = [
            f"{host}: {' '.join(f'{k}={c.get(k)}' for k in wanted)}"
            for host, c in counts.items()
            if any(c.get(k) != v for k, v in wanted.items())
        ]
        return problems + ([f"recap not {wanted}: {_few(bad, 2)}"] if bad else [])

    def leftovers(self, run: Run) -> tuple[float, int]:
        """Ask every ControlPersist master of the run to exit; CPU read just before."""
        sockets = sorted(_control_dir(run).glob("*")) if _control_dir(run).is_dir() else []
        pids = []
        for sock in sockets:
            check = _mux(sock, "check")
            found = re.search(r"pid=(\d+)", check.stderr)
            if found:
                pids.append(int(found.group(1)))
        cpu = cpu_s(pids)  # the same /proc reading: own plus reaped children's CPU
        for sock in sockets:
            _mux(sock, "exit")
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        return cpu, len(pids)


def _control_dir(run: Run) -> Path:
    return run.directory / "cp"


def _mux(sock: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``ssh -O COMMAND`` on a master's control socket (the host name is not used)."""
    argv = ["ssh", "-F", "/dev/null", "-S", str(sock), "-O", command, "master"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def play_config(setup: SizeSetup) -> Path:
    """ansible.cfg for the playbook: bench_run's, with Ansible's persistent connections
    (ControlMaster=auto, ControlPersist=60s) instead of ControlMaster=no, and forks N."""
    path = setup.directory / "ansible-play.cfg"
    if not path.exists():
        text = ansible_config_text(setup)
        no_reuse = "ssh_args = -o ControlMaster=no\n"
        if no_reuse not in text or "[defaults]\n" not in text:
            raise SystemExit("bench_run.ansible_config_text changed: update play_config")
        text = text.replace(no_reuse, "ssh_args = -o ControlMaster=auto -o ControlPersist=60s\n")
        text = text.replace("[defaults]\n", f"[defaults]\nforks = {setup.n}\n", 1)
        path.write_text(text)
    return path


def _host_problems(expected: tuple[str, ...], reported: list[str]) -> list[str]:
    counts = Counter(reported)
    checks = {
        "missing": [n for n in expected if n not in counts],
        "unexpected": sorted(set(counts) - set(expected)),
        "reported more than once": sorted(n for n, c in counts.items() if c > 1),
    }
    return [f"{what}: {_few(names)}" for what, names in checks.items() if names]


# -- one run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlaySample(Sample):
    """A run of a playbook; ``masters_cpu_s`` is the CPU of the SSH masters the run left
    (detached, so not in ``client_cpu_s``)."""

    masters_cpu_s: float = 0.0
    masters: int = 0


def run_once(
    tool: PlayTool,
    setup: SizeSetup,
    payload: Path,
    rep: int,
    env: dict[str, str],
    timeout: float,
    pids: list[int],
) -> PlaySample:
    """Run ``tool``'s playbook once, time it, stop what it left, and verify every host."""
    run = Run(setup, setup.directory / f"run-{tool.name}", payload)
    shutil.rmtree(run.directory, ignore_errors=True)
    run.dest_dir.mkdir(parents=True)
    server_before = cpu_s(pids)
    done = run_timed(tool.argv(run), run.directory, tool.env(run, env), timeout)
    masters_cpu, masters = tool.leftovers(run)
    time.sleep(0.2)  # let sshd reap the sessions before reading its CPU
    server_cpu = cpu_s(pids) - server_before
    if done.timed_out:
        problems = [f"timed out after {timeout:g} s"]
    else:
        problems = [f"exit status {done.returncode}"] if done.returncode else []
        try:
            problems += tool.check(run, done.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"unreadable output ({type(exc).__name__}: {exc})")
        left = sorted(p.name for p in run.dest_dir.iterdir())
        problems += [f"uploads not removed: {_few(left)}"] if left else []
    error = "; ".join(problems) or None
    if error:
        err_tail = _one_line(done.stderr[-400:] or done.stdout[-400:])
        error += f" [output: {err_tail}]" if err_tail else ""
    shutil.rmtree(run.directory, ignore_errors=True)
    return PlaySample(
        tool.name,
        setup.n,
        rep,
        done.wall_s,
        done.client_cpu_s,
        server_cpu,
        error,
        masters_cpu,
        masters,
    )


def benchmark(
    fleet: SshdFleet, tools: list[PlayTool], args: argparse.Namespace
) -> list[PlaySample]:
    """``args.warmup`` untimed then ``args.runs`` timed repetitions, each tool once per
    repetition in a shuffled order."""
    rng = random.Random(args.seed)
    env = clean_env()
    pids = [h.pid for h in fleet.hosts]
    root = Path(fleet.root).parent
    setup = prepare_size(fleet, args.hosts, root)
    payload = root / "payload.txt"
    line = "a small file that both tools upload, one copy per host.\n"
    payload.write_text((line * (PAYLOAD_BYTES // len(line) + 1))[:PAYLOAD_BYTES])
    return interleaved(
        tools,
        rng,
        args.warmup,
        args.runs,
        lambda tool, rep: run_once(tool, setup, payload, rep, env, args.run_timeout, pids),
        _progress,
    )


def _progress(s: PlaySample, runs: int) -> None:
    rep = f"run {s.rep}/{runs}" if s.rep else "warm-up"
    status = "ok" if s.ok else f"FAILED: {s.error}"
    masters = f"  + {s.masters} masters {s.masters_cpu_s:.2f} s" if s.masters else ""
    print(
        f"{rep:<9} {s.tool:<17} {s.wall_s:7.2f} s  client cpu {s.client_cpu_s:6.2f} s"
        f"{masters}  {status}",
        file=sys.stderr,
        flush=True,
    )


# -- the report ------------------------------------------------------------------------------
@dataclass
class Report:
    """Everything the "play" section of RESULTS.md shows."""

    command: str
    hosts: int
    runs: int
    warmup: int
    seed: int
    info: dict[str, str]
    load_before: str
    load_after: str
    started: str
    duration_s: float
    samples: list[PlaySample]

    @property
    def is_record(self) -> bool:
        """A full run per the issue (else: a smoke run, not to be quoted)."""
        return self.hosts == RECORD_HOSTS and self.runs >= RECORD_RUNS and self.warmup >= 1

    def good(self, tool: str) -> list[PlaySample]:
        return [s for s in self.samples if s.tool == tool and s.ok]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def render(report: Report) -> str:
    """The "play" section of RESULTS.md."""
    n = report.hosts
    lines = [f"# hostops benchmark: a {TASKS}-task playbook on {n} hosts, against Ansible", ""]
    if not report.is_record:
        lines += [
            f"> **SMOKE RUN — not the benchmark of record.** {report.runs} run(s) on {n} hosts; "
            f"the full run is `--hosts {RECORD_HOSTS} --runs {RECORD_RUNS}` (command below).",
            "",
        ]
    lines += [
        "Written by `benchmarks/bench_play.py`; see `benchmarks/README.md` (Playbook) for "
        "the method. The playbooks: `benchmarks/play10.yaml` (hostops) and "
        "`benchmarks/play10-ansible.yaml` (Ansible).",
        "",
        "Reproduce (from the repository root):",
        "",
        "```sh",
        report.command,
        "```",
        "",
        f"Started {report.started}, took {report.duration_s / 60:.1f} min; "
        f"{report.runs} timed run(s) per tool after {report.warmup} warm-up, interleaved "
        f"in a shuffled order (seed {report.seed}). "
        f"Load average before: {report.load_before}; after: {report.load_after}.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in report.info.items()),
        "",
        f"## N = {n}, {TASKS} tasks",
        "",
        "| tool | runs ok | failed | wall median (s) | min | max | spread | "
        "client CPU (s) | client CPU/host (ms) | + SSH masters' CPU (s) | "
        "server CPU/host (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors = []
    for tool in (HOSTOPS, ANSIBLE):
        s = summarize(report.samples, tool, n)
        good = report.good(tool)
        masters = _median([g.masters_cpu_s for g in good]) if tool == ANSIBLE else None
        lines.append(
            f"| {tool} | {s.ok} | {s.failed} | {fmt(s.median_s)} | {fmt(s.min_s)} | "
            f"{fmt(s.max_s)} | {fmt(s.spread and 100 * s.spread, '.0f', ' %')} | "
            f"{fmt(_median([g.client_cpu_s for g in good]))} | "
            f"{fmt(s.client_ms_per_host, '.1f')} | {fmt(masters)} | "
            f"{fmt(s.server_ms_per_host, '.1f')} |"
        )
        if s.first_error:
            errors.append(f"- {tool}: {s.failed} failed run(s), first: {s.first_error}")
    lines += ["", *([*errors, ""] if errors else [])]
    lines += _verdict(report)
    lines += ["## Observations", "", *(f"- {o}" for o in observations(report)), ""]
    return "\n".join(lines)


def _verdict(report: Report) -> list[str]:
    h = _median([s.wall_s for s in report.good(HOSTOPS)])
    a = _median([s.wall_s for s in report.good(ANSIBLE)])
    r = ratio(h, a)
    cpu = ratio(
        _median([s.client_cpu_s for s in report.good(HOSTOPS)]),
        _median([s.client_cpu_s + s.masters_cpu_s for s in report.good(ANSIBLE)]),
    )
    verdict = "no data" if r is None else ("**met**" if r <= TARGET else "**missed**")
    return [
        "## Target (median wall time)",
        "",
        f"- hostops ≤ {TARGET}x ansible-playbook: {fmt(r, '.2f', 'x')} — {verdict}",
        f"- client CPU, hostops ÷ ansible-playbook (its SSH masters included): "
        f"{fmt(cpu, '.2f', 'x')}",
        "",
    ]


def observations(report: Report) -> list[str]:
    """Short, data-derived remarks."""
    notes = []
    for tool in (HOSTOPS, ANSIBLE):
        wall = _median([s.wall_s for s in report.good(tool)])
        if wall is not None:
            notes.append(
                f"{tool}: {1000 * wall / TASKS:.0f} ms per task for all {report.hosts} hosts "
                f"(median wall time ÷ {TASKS}, start-up included)."
            )
    server = [_median([s.server_cpu_s for s in report.good(t)]) for t in (HOSTOPS, ANSIBLE)]
    if all(v is not None for v in server):
        notes.append(
            f"Server CPU per run (the sshd daemons and what they ran, all {report.hosts} hosts "
            f"on this machine): hostops {fmt(server[0])} s, ansible-playbook {fmt(server[1])} s "
            "(its remote Python modules). On a real fleet each host carries its own share, "
            "so the client CPU ratio is the figure that does not depend on this machine's cores."
        )
    masters = sorted({s.masters for s in report.good(ANSIBLE)})
    if masters:
        notes.append(
            f"ansible-playbook left {', '.join(map(str, masters))} SSH master(s) per run "
            f"(ControlPersist): one connection per host, reused by all {TASKS} tasks."
        )
    failed = [s for s in report.samples if not s.ok]
    if failed:
        notes.append(
            f"{len(failed)} run(s) failed verification and are not timed; "
            f"first: {failed[0].tool}: {failed[0].error}"
        )
    else:
        notes.append("Every run passed verification (every host once, all tasks, uploads removed).")
    notes.append(
        "Client and sshd daemons share this machine's CPUs, so wall time includes the "
        "server side; the load average above shows what else ran."
    )
    return notes


# -- command line ----------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=RECORD_HOSTS, help="fleet size = fan-out")
    parser.add_argument("--runs", type=int, default=RECORD_RUNS, help="timed runs per tool")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool first")
    parser.add_argument(
        "--ansible-bin",
        default="ansible-playbook",
        help="the ansible-playbook command [default: from PATH]",
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="results file")
    parser.add_argument("--seed", type=int, default=1, help="seed of the run order shuffle")
    parser.add_argument(
        "--run-timeout", type=float, default=600.0, help="seconds before a run is killed"
    )
    parser.add_argument("--address-base", type=int, default=78, help="fleet on 127.BASE.x.y")
    parser.add_argument("--workdir", type=Path, help="keep fleet and files here [default: temp]")
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--hosts and --runs must be at least 1, --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = [HostopsPlay(), AnsiblePlay(args.ansible_bin)]
    problems = [f"{t.name}: {why}" for t in tools if (why := t.missing())]
    if problems:
        raise SystemExit("cannot run: " + "; ".join(problems))
    raise_nofile_limit(8 * args.hosts + 256)
    shown_argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/bench_play.py", *shown_argv])
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = load_average()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hostops-play-"))
    try:
        print(f"starting {args.hosts} sshd under {workdir}", file=sys.stderr, flush=True)
        with SshdFleet(workdir / "fleet", args.hosts, address_base=args.address_base) as fleet:
            samples = benchmark(fleet, tools, args)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    info = machine_info(args.ansible_bin)
    report = Report(
        command=command,
        hosts=args.hosts,
        runs=args.runs,
        warmup=args.warmup,
        seed=args.seed,
        info={k: v for k, v in info.items() if k not in ("asyncssh", "pssh")},
        load_before=load_before,
        load_after=load_average(),
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        duration_s=(datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(),
        samples=samples,
    )
    replace_section(args.output, "play", render(report))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if all(s.ok for s in samples) else 1


if __name__ == "__main__":
    sys.exit(main())
