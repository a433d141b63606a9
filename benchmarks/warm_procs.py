"""Process-tree CPU from /proc, and the background processes that keep warm connections.

A warm tool's work happens partly in processes that are not the benchmark's
children (hostops's background process, OpenSSH's ControlPersist masters: they
detach), and the servers' work partly in sshd processes that outlive the run
(the sessions of kept connections). Neither shows in RUSAGE_CHILDREN or in the
listeners' reaped-children CPU, so both are read as process trees: the CPU of
every live process under the roots, own and reaped children's. A process that
ends and is reaped inside the tree moves its CPU to its parent's reaped-children
figure, so the total over the tree only grows by what the tree actually spent
(to within a clock tick per process reaped during the run).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")

Parents = dict[int, int]  # pid -> parent pid, of every live process


def parents() -> Parents:
    """Every live process's parent."""
    table: Parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = Path(entry.path, "stat").read_text()
                table[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def tree_cpu_s(table: Parents, roots: list[int]) -> float:
    """CPU seconds of the trees under ``roots``, each process once: its threads' run time
    (schedstat, in ns: a kept connection's process spends well under the 10 ms clock tick
    per run, so stat's ticks would round most runs to zero) plus its reaped children's."""
    children: dict[int, list[int]] = {}
    for pid, ppid in table.items():
        children.setdefault(ppid, []).append(pid)
    seen: set[int] = set()
    todo = [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, ()))
    return sum(_cpu_s(pid) for pid in seen)


def _cpu_s(pid: int) -> float:
    total = 0.0
    with contextlib.suppress(OSError, IndexError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                total += int(Path(task.path, "schedstat").read_text().split()[0]) / 1e9
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[13]) + int(fields[14])) / _TICK  # cutime, cstime
    return total


def background_hostops(runtime_dir: Path) -> list[int]:
    """The processes holding a Unix socket under ``runtime_dir`` (hostops's background
    process keeps its socket in ``$XDG_RUNTIME_DIR/hostops/``, and the benchmark gives
    hostops a private XDG_RUNTIME_DIR)."""
    prefix = f"{runtime_dir}/"
    inodes = set()
    with open("/proc/net/unix") as f:
        next(f)  # header: Num RefCount Protocol Flags Type St Inode Path
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[7].startswith(prefix):
                inodes.add(f"socket:[{parts[6]}]")
    return sorted(_holders(inodes)) if inodes else []


def _holders(links: set[str]) -> set[int]:
    pids = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in links:
                        pids.add(int(entry.name))
                        break
    return pids


def mux_masters(control_dir: Path) -> list[int]:
    """OpenSSH ControlPersist masters whose control socket is in ``control_dir``: a master
    titles itself ``ssh: CONTROL_PATH [mux]``."""
    prefix = f"ssh: {control_dir}/".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(entry.path, "cmdline").read_bytes().startswith(prefix):
                pids.append(int(entry.name))
    return pids
