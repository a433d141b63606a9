"""Warm runs: ``hostops run --persist`` against pssh over OpenSSH ControlMaster, beside cold runs.

Every tool runs ``uptime`` on the first N hosts of one loopback sshd fleet, as
bench_run.py does (same per-size files: key, strict known_hosts, no agent, no
ssh config), in interleaved runs (each repetition runs every tool once, in a
shuffled order):

- ``hostops-cold``: ``hostops run`` as in bench_run.py;
- ``hostops-warm``: the same with ``--persist 10m``; the connections are opened by
  one untimed run before the warm-up and timed runs, and kept by hostops's
  per-user background process;
- ``asyncssh``: asyncssh_gather.py, cold (the fastest cold peer);
- ``pssh-cm``: parallel-ssh with OpenSSH ``ControlMaster=auto``, a ``ControlPath`` and
  ``ControlPersist=10m``: its masters are opened by one untimed run, likewise.

The same is repeated for one size behind a delaying TCP proxy (delay_proxy.py,
default +50 ms round trip, N=50). A run counts only if the tool exited 0, every
host reported "load average" once, the sshd logs show the expected logins (N for
a cold tool, none for a warm one: proof from the server side that the warm run
reused its connections) and, for hostops-warm, every host's JSON says
``"reused": true``.

CPU is measured per process tree. Client: the tool's process and its reaped
children (RUSAGE_CHILDREN), plus the CPU that the background processes the warm
tools leave running (hostops's background process and its workers; OpenSSH's
ControlPersist masters) spent during the run, read from /proc. Server: the fleet's
sshd listeners and every descendant (kept connections' sessions included),
from /proc, 0.2 s after the run.

Example: python benchmarks/bench_warm.py --sizes 10,50,200 --runs 7 --delay-n 50 --rtt-ms 50
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_common import replace_section
from bench_run import (
    Hostops,
    Pssh,
    PythonClient,
    Sample,
    SizeSetup,
    Tool,
    _hostops_script,
    _int_list,
    _json_lines,
    _one_line,
    _progress,
    clean_env,
    interleaved,
    load_average,
    machine_info,
    prepare_size,
    raise_nofile_limit,
    run_timed,
    verify,
)
from procstat import cpu_s, parents, tree
from warm_procs import background_hostops, mux_masters
from warm_report import Report, render

from hostops.testing import SshdFleet
from hostops.testing.fleet import LogTail, loopback_address

HERE = Path(__file__).resolve().parent
PERSIST = "10m"
TOOLS = ("hostops-cold", "hostops-warm", "asyncssh", "pssh-cm")


# -- the warm tools ----------------------------------------------------------------------------
class WarmTool(Tool):
    """A tool whose connections outlive a run: opened before the timed runs, closed after."""

    warm = True

    def open(self, setup: SizeSetup, env: dict[str, str], timeout: float) -> str | None:
        """Open the connections (one untimed run); why that failed, or None."""
        run_dir = setup.directory / f"open-{self.name}"
        run_dir.mkdir(exist_ok=True)
        done = run_timed(self.argv(setup, run_dir), run_dir, env, timeout)
        error = verify(setup.names, self.outputs(setup, run_dir, done.stdout), done.returncode)
        shutil.rmtree(run_dir, ignore_errors=True)
        return f"{error} [stderr: {_one_line(done.stderr[-400:])}]" if error else None

    def background(self, setup: SizeSetup, env: dict[str, str]) -> list[int]:
        """The processes holding the connections (their CPU is the tool's too)."""
        return []

    def reuse_problem(self, stdout: str) -> str | None:
        """What the tool itself says was not reused (None: nothing, or it does not say)."""
        return None

    def close(self, setup: SizeSetup, env: dict[str, str]) -> None:
        """Close every kept connection."""


class HostopsWarm(Hostops, WarmTool):
    """``hostops run --persist 10m``: connections kept by the per-user background process."""

    def argv(self, setup: SizeSetup, run_dir: Path) -> list[str]:
        return [*super().argv(setup, run_dir), "--persist", PERSIST]

    def background(self, setup: SizeSetup, env: dict[str, str]) -> list[int]:
        return background_hostops(Path(env["XDG_RUNTIME_DIR"]))

    def reuse_problem(self, stdout: str) -> str | None:
        cold = [str(r.get("host")) for r in _json_lines(stdout) if r.get("reused") is not True]
        return f"not reused (JSON 'reused'): {', '.join(cold[:5])}" if cold else None

    def close(self, setup: SizeSetup, env: dict[str, str]) -> None:
        argv = [str(_hostops_script()), "persist", "--stop"]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"hostops persist --stop: {_one_line(done.stderr)}", file=sys.stderr)


class PsshMaster(Pssh, WarmTool):
    """parallel-ssh through OpenSSH ControlMaster masters that persist between runs."""

    def argv(self, setup: SizeSetup, run_dir: Path) -> list[str]:
        mux = [
            "ControlMaster=auto",
            f"ControlPath={control_dir(setup)}/%C",
            f"ControlPersist={PERSIST}",
        ]
        argv = super().argv(setup, run_dir)
        return [*argv[:-1], *(a for opt in mux for a in ("-O", opt)), argv[-1]]

    def background(self, setup: SizeSetup, env: dict[str, str]) -> list[int]:
        return mux_masters(control_dir(setup))

    def close(self, setup: SizeSetup, env: dict[str, str]) -> None:
        for sock in control_dir(setup).glob("*"):
            argv = ["ssh", "-F", "/dev/null", "-S", str(sock), "-O", "exit", "master"]
            subprocess.run(argv, capture_output=True, timeout=30, check=False)


def control_dir(setup: SizeSetup) -> Path:
    """ControlPath directory of a size: short (a Unix socket path has ~100 bytes)."""
    return setup.directory / "cm"


def make_tools(names: list[str]) -> list[Tool]:
    factories = {
        "hostops-cold": lambda: Hostops("hostops-cold"),
        "hostops-warm": lambda: HostopsWarm("hostops-warm"),
        "asyncssh": lambda: PythonClient("asyncssh", "asyncssh_gather.py", "asyncssh"),
        "pssh-cm": lambda: PsshMaster("pssh-cm"),
    }
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise SystemExit(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(factories)}")
    return [factories[n]() for n in names]


# -- one run -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WarmSample(Sample):
    """A run; ``background_cpu_s`` (in ``client_cpu_s`` too) is what the warm tool's
    background processes spent during it."""

    background_cpu_s: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """One table: N hosts, reached directly or through the delaying proxy."""

    label: str
    setup: SizeSetup
    fleet_hosts: tuple[int, ...]  # indexes into the fleet (for the sshd logs)
    rtt_ms: float = 0.0


def run_once(
    tool: Tool, sc: Scenario, rep: int, env: dict[str, str], timeout: float, fleet: SshdFleet
) -> WarmSample:
    """Run ``tool`` once: time it, its CPU and the servers', verify outputs and logins."""
    setup = sc.setup
    run_dir = setup.directory / f"run-{tool.name}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    warm = tool if isinstance(tool, WarmTool) else None
    background = warm.background(setup, env) if warm else []
    listeners = [h.pid for h in fleet.hosts]
    tails = [LogTail(fleet.hosts[i].log) for i in sc.fleet_hosts]
    bg_before, server_before = _trees_cpu_s(background, listeners)
    done = run_timed(tool.argv(setup, run_dir), run_dir, env, timeout)
    time.sleep(0.2)  # let sshd reap the sessions before reading its CPU
    bg_after, server_after = _trees_cpu_s(background, listeners)
    bg_cpu, server_cpu = bg_after - bg_before, server_after - server_before
    logins = sum(t.logins() for t in tails)
    problems: list[str | None] = []
    if done.timed_out:
        problems.append(f"timed out after {timeout:g} s")
    else:
        try:
            outputs = tool.outputs(setup, run_dir, done.stdout)
            problems.append(verify(setup.names, outputs, done.returncode))
            problems.append(warm.reuse_problem(done.stdout) if warm else None)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"unreadable output ({type(exc).__name__}: {exc})")
    wanted = 0 if warm else setup.n
    if logins != wanted:
        problems.append(f"sshd logs show {logins} new logins, expected {wanted}")
    if warm and not background:
        problems.append("no background process found")
    error = "; ".join(p for p in problems if p) or None
    if error:
        tail = _one_line(done.stderr[-400:])
        error += f" [stderr: {tail}]" if tail else ""
    shutil.rmtree(run_dir, ignore_errors=True)
    return WarmSample(
        tool.name,
        setup.n,
        rep,
        done.wall_s,
        done.client_cpu_s + bg_cpu,
        server_cpu,
        error,
        bg_cpu,
    )


def _trees_cpu_s(background: list[int], listeners: list[int]) -> tuple[float, float]:
    """The CPU of the trees under ``background`` and under ``listeners``, from one /proc
    snapshot, on the schedstat clock (see warm_procs)."""
    table = parents()
    return cpu_s(tree(background, table), "schedstat"), cpu_s(tree(listeners, table), "schedstat")


def run_scenario(
    fleet: SshdFleet, tools: list[Tool], sc: Scenario, args: argparse.Namespace, env: dict[str, str]
) -> list[WarmSample]:
    """Open the warm tools' connections, run the interleaved repetitions, close them."""
    rng = random.Random(f"{args.seed}-{sc.label}")
    warm = [t for t in tools if isinstance(t, WarmTool)]
    try:
        for tool in warm:
            print(f"{sc.label}: opening {tool.name}'s connections", file=sys.stderr, flush=True)
            error = tool.open(sc.setup, env, args.run_timeout)
            if error:  # its runs then fail verification (new logins) and say so
                print(f"  opening failed: {error}", file=sys.stderr, flush=True)
        return interleaved(
            tools,
            rng,
            args.warmup,
            args.runs,
            lambda tool, rep: run_once(tool, sc, rep, env, args.run_timeout, fleet),
            _progress,
        )
    finally:
        for tool in warm:
            tool.close(sc.setup, env)


# -- the delayed fleet ---------------------------------------------------------------------------
def start_proxy(
    fleet: SshdFleet, n: int, rtt_ms: float, root: Path, base: int
) -> tuple[subprocess.Popen[str], SshdFleet]:
    """delay_proxy.py in front of the first ``n`` daemons; a view of the fleet whose hosts
    are the proxy's listeners (same names and host keys)."""
    hosts = fleet.hosts[:n]
    routes = [
        {"listen": loopback_address(i, base), "target": f"{h.address}:{h.port}"}
        for i, h in enumerate(hosts)
    ]
    (root / "routes.json").write_text(json.dumps(routes))
    argv = [sys.executable, str(HERE / "delay_proxy.py"), "--rtt-ms", str(rtt_ms)]
    proxy = subprocess.Popen(
        [*argv, "--routes", str(root / "routes.json")], stdout=subprocess.PIPE, text=True
    )
    assert proxy.stdout is not None
    bound = json.loads(proxy.stdout.readline() or "[]")
    if len(bound) != n:
        proxy.kill()
        raise SystemExit("delay_proxy.py did not start")
    view = copy.copy(fleet)
    view.hosts = [
        dataclasses.replace(
            h, address=b["listen"].rsplit(":", 1)[0], port=int(b["listen"].rsplit(":", 1)[1])
        )
        for h, b in zip(hosts, bound, strict=True)
    ]
    return proxy, view


# -- command line --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_int_list, default=[10, 50, 200], help="fleet sizes")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per tool and table")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool first")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"from: {', '.join(TOOLS)}")
    parser.add_argument("--delay-n", type=int, default=50, help="hosts behind the proxy (0: none)")
    parser.add_argument("--rtt-ms", type=float, default=50.0, help="round trip the proxy adds")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="results file")
    parser.add_argument("--json", type=Path, help="also write every sample to this JSON file")
    parser.add_argument("--seed", type=int, default=1, help="seed of the run order shuffle")
    parser.add_argument("--run-timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument(
        "--address-base",
        type=int,
        default=83,
        help="fleet on 127.BASE.x.y, the proxy on 127.BASE+1.x.y",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    args.tools = [t for t in args.tools.split(",") if t]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = make_tools(args.tools)
    problems = [f"{t.name}: {why}" for t in tools if (why := t.missing())]
    if problems:
        raise SystemExit("cannot run: " + "; ".join(problems))
    sizes = sorted(set(args.sizes))
    largest = max([*sizes, args.delay_n])
    raise_nofile_limit(8 * largest + 256)
    shown = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/bench_warm.py", *shown])
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = load_average()
    # Short: hostops's socket and the ControlPaths live under it. Private to this run, so
    # its background process is not another user's (or another benchmark's) of this uid.
    workdir = Path(tempfile.mkdtemp(prefix="hw-"))
    env = {k: v for k, v in clean_env().items() if k != "HOSTOPS_PERSIST"}
    env["XDG_RUNTIME_DIR"] = str(workdir)
    results: dict[str, list[WarmSample]] = {}
    scenarios: list[Scenario] = []
    proxy = None
    try:
        print(f"starting {largest} sshd under {workdir}", file=sys.stderr, flush=True)
        with SshdFleet(workdir / "fleet", largest, address_base=args.address_base) as fleet:
            for n in sizes:
                scenarios.append(
                    Scenario(f"N={n}", prepare_size(fleet, n, workdir), tuple(range(n)))
                )
            if args.delay_n:
                (workdir / "delayed").mkdir()
                proxy, view = start_proxy(
                    fleet, args.delay_n, args.rtt_ms, workdir / "delayed", args.address_base + 1
                )
                setup = prepare_size(view, args.delay_n, workdir / "delayed")
                label = f"N={args.delay_n} +{args.rtt_ms:g} ms"
                scenarios.append(Scenario(label, setup, tuple(range(args.delay_n)), args.rtt_ms))
            for sc in scenarios:
                control_dir(sc.setup).mkdir(exist_ok=True)
                results[sc.label] = run_scenario(fleet, tools, sc, args, env)
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    report = Report(
        command=command,
        scenarios=[(sc.label, sc.setup.n, sc.rtt_ms) for sc in scenarios],
        tools=[t.name for t in tools],
        runs=args.runs,
        warmup=args.warmup,
        seed=args.seed,
        info=machine_info(None),
        load_before=load_before,
        load_after=load_average(),
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        duration_s=(datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(),
        results=results,
    )
    text = render(report)
    print(text)
    replace_section(args.output, "warm", text)
    if args.json:
        dump = {k: [dataclasses.asdict(s) for s in v] for k, v in results.items()}
        args.json.write_text(json.dumps(dump, indent=1))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if all(s.ok for v in results.values() for s in v) else 1


if __name__ == "__main__":
    sys.exit(main())
