"""Inventory scale, each timed as a fresh ``hostops inventory`` process (parsing included):

1. 10,000 hosts listed one by one in 200 groups, selected with ``web:&prod:!web0*``
   (native YAML, Ansible INI, Ansible YAML);
2. an Ansible project of 10,000 hosts with ``group_vars/`` (a file or a directory per
   group) and ``host_vars/`` (1,000 files), every host resolved (``--json``);
3. 100,000 hosts in no group, listed (the table, and ``--json``).

Usage: python benchmarks/bench_inventory.py [--hosts 10000] [--groups 200] [--runs 7]
    [--ungrouped 100000] [--baseline DIR]
Writes the tables into the "inventory" section of benchmarks/RESULTS.md, and prints their rows.
``--baseline DIR``: DIR holds another version's ``hostops/`` package (``git archive main hostops
| tar -x -C DIR``); each case is timed with it too, its runs alternating with this version's
(the same load for both), and the tables add its median and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import replace_section

PATTERN = "web:&prod:!web0*"


def fleet(n_hosts: int, n_groups: int) -> tuple[list[str], dict[str, list[str]]]:
    """Host names (half web, half db) and groups: web, db, prod (every other host), racks."""
    half = n_hosts // 2
    names = [f"web{i:04d}.example.com" for i in range(1, half + 1)]
    names += [f"db{i:04d}.example.com" for i in range(1, n_hosts - half + 1)]
    groups: dict[str, list[str]] = {
        "web": names[:half],
        "db": names[half:],
        "prod": names[::2],
    }
    racks = n_groups - len(groups)
    for r in range(racks):
        groups[f"rack{r:03d}"] = names[r::racks]
    return names, groups


def write_native(path: Path, names: list[str], groups: dict[str, list[str]]) -> None:
    lines = ["defaults:", "  user: ops", "hosts:"]
    lines += [
        f"  {n}:\n    address: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        for i, n in enumerate(names)
    ]
    lines.append("groups:")
    for g, members in groups.items():
        lines.append(f"  {g}:\n    hosts:")
        lines += [f"      - {m}" for m in members]
    path.write_text("\n".join(lines) + "\n")


def write_ini(path: Path, names: list[str], groups: dict[str, list[str]]) -> None:
    lines = [
        f"{n} ansible_host=10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        for i, n in enumerate(names)
    ]
    for g, members in groups.items():
        lines.append(f"\n[{g}]")
        lines += members
    path.write_text("\n".join(lines) + "\n")


def write_ansible_yaml(path: Path, names: list[str], groups: dict[str, list[str]]) -> None:
    lines = ["all:", "  hosts:"]
    lines += [
        f"    {n}:\n      ansible_host: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        for i, n in enumerate(names)
    ]
    lines.append("  children:")
    for g, members in groups.items():
        lines.append(f"    {g}:\n      hosts:")
        lines += [f"        {m}:" for m in members]
    path.write_text("\n".join(lines) + "\n")


def write_project(root: Path, names: list[str], groups: dict[str, list[str]]) -> Path:
    """An Ansible project: hosts.ini, group_vars/ (every tenth group a directory of two
    files, the others one file, and all.yml) and host_vars/ for every tenth host."""
    write_ini(root / "hosts.ini", names, groups)
    (root / "group_vars").mkdir()
    (root / "host_vars").mkdir()
    (root / "group_vars" / "all.yml").write_text("ansible_user: ops\nntp: ntp.example.com\n")
    for i, group in enumerate(groups):
        if i % 10 == 0:
            folder = root / "group_vars" / group
            folder.mkdir()
            (folder / "10-main.yml").write_text(f"tier: {group}\nansible_port: {2000 + i}\n")
            (folder / "20-more.yml").write_text("extra: [1, 2, 3]\n")
        else:
            (root / "group_vars" / f"{group}.yml").write_text(f"tier: {group}\n")
    for i, name in enumerate(names[::10]):
        (root / "host_vars" / f"{name}.yml").write_text(
            f"ansible_host: 10.1.{i // 256 % 256}.{i % 256}\nrack: r{i % 40}\n"
        )
    return root / "hosts.ini"


def time_inventory(
    inventory: Path, expected: int, runs: int, *options: str, as_json: bool = True
) -> list[float]:
    """Wall seconds of each fresh `hostops inventory` process; checks how many it lists.
    With a baseline, its runs alternate with these (their times in _BASELINE)."""
    argv = [sys.executable, "-m", "hostops", "inventory", "--hosts", str(inventory)]
    argv += [*options, "--no-ssh-config", *(["--json"] if as_json else [])]
    times = []
    cpu = []
    baseline: list[float] = []
    for _ in range(runs):
        if _BASELINE_DIR:
            env = {**os.environ, "PYTHONPATH": _BASELINE_DIR[0]}
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True, env=env)
            baseline.append(time.perf_counter() - start)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        got = len(json.loads(out)["hosts"]) if as_json else int(out.splitlines()[-1].split()[0])
        if got != expected:
            raise SystemExit(f"{inventory.name}: listed {got} hosts, expected {expected}")
    _CPU[inventory.name + " ".join(options) + str(as_json)] = statistics.median(cpu)
    _BASELINE[:] = baseline
    return times


_CPU: dict[str, float] = {}  # the last timed case's median CPU seconds (user + system)
_BASELINE: list[float] = []  # the last timed case's baseline wall seconds
_BASELINE_DIR: list[str] = []  # --baseline, when given


def _row(label: str, t: list[float]) -> str:
    cpu = list(_CPU.values())[-1]
    row = f"| {label} | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} | {cpu:.2f} |"
    if _BASELINE:
        base = statistics.median(_BASELINE)
        row += f" {base:.2f} | {base / statistics.median(t):.1f}x |"
    return row


def _header(first: str) -> list[str]:
    extra = " baseline median (s) | baseline ÷ this |" if _BASELINE_DIR else ""
    rule = "---:|---:|" if _BASELINE_DIR else ""
    return [
        f"| {first} | median (s) | min | max | CPU median (s) |{extra}",
        f"|---|---:|---:|---:|---:|{rule}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ungrouped", type=int, default=100000)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--baseline", type=Path, help="a directory holding another hostops/")
    args = parser.parse_args()
    _BASELINE_DIR[:] = [str(args.baseline.resolve())] if args.baseline else []
    names, groups = fleet(args.hosts, args.groups)
    prod = set(groups["prod"])
    expected = sum(1 for n in groups["web"] if n in prod and not n.startswith("web0"))
    lines = [
        "## Inventory scale",
        "",
        "Reproduce: `python benchmarks/bench_inventory.py"
        f" --hosts {args.hosts} --groups {args.groups} --runs {args.runs}"
        f" --ungrouped {args.ungrouped}"
        f"{' --baseline DIR' if args.baseline else ''}` (on this 2-core machine, shared: the load average"
        " is printed with each table)",
        "",
        f"{args.hosts} hosts listed one by one in {len(groups)} groups;"
        f" `hostops inventory --limit '{PATTERN}' --json --no-ssh-config` (selects {expected})"
        f" as a fresh process, parsing included; {args.runs} runs each.",
        "",
        *_header("format"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, writer, name in (
            ("native YAML", write_native, "inv.yaml"),
            ("Ansible INI", write_ini, "hosts.ini"),
            ("Ansible YAML", write_ansible_yaml, "ansible.yml"),
        ):
            path = Path(tmp) / name
            writer(path, names, groups)
            t = time_inventory(path, expected, args.runs, "--limit", PATTERN)
            lines.append(_row(label, t))
            print(lines[-1], flush=True)
        lines += [
            "",
            f"An Ansible project: {args.hosts} hosts in {len(groups)} groups, group_vars/ for"
            f" every group (every tenth a directory of two files), host_vars/ for"
            f" {len(names[::10])} hosts; `hostops inventory --json --no-ssh-config`: every"
            f" host resolved, variables merged as Ansible does (target: 1.5 s).",
            "",
            *_header("inventory"),
        ]
        project = Path(tmp) / "project"
        project.mkdir()
        t = time_inventory(write_project(project, names, groups), len(names), args.runs)
        lines.append(_row("group_vars + host_vars", t))
        print(lines[-1], flush=True)
        many = Path(tmp) / "ungrouped.ini"
        many.write_text("".join(f"h{i:06d}.example.com\n" for i in range(args.ungrouped)))
        lines += [
            "",
            f"{args.ungrouped} hosts in no group (one INI line each), listed (target: 5 s).",
            "",
            *_header("output"),
        ]
        for label, as_json in (("table", False), ("--json", True)):
            t = time_inventory(many, args.ungrouped, args.runs, as_json=as_json)
            lines.append(_row(label, t))
            print(lines[-1], flush=True)
    lines += [
        "",
        f"Load average at the end: {os.getloadavg()[0]:.1f} (1 min; 2 cores shared with"
        " other work, so wall times vary; CPU is user + system of the process).",
    ]
    replace_section(args.output, "inventory", "\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
