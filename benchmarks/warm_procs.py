"""The background processes that keep warm connections, found in /proc.

A warm tool's work happens partly in processes that are not the benchmark's
children (hostops's background process, OpenSSH's ControlPersist masters: they
detach), and the servers' work partly in sshd processes that outlive the run
(the sessions of kept connections). Neither shows in RUSAGE_CHILDREN or in the
listeners' reaped-children CPU, so bench_warm.py reads both as process trees
(procstat.tree and procstat.cpu_s, on the schedstat clock: a kept connection's
process spends well under the 10 ms clock tick per run, so stat's ticks would
round most runs to zero); this module finds the roots of the warm tools' trees.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from procstat import live_pids


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
    for pid in live_pids():
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in links:
                        pids.add(pid)
                        break
    return pids


def mux_masters(control_dir: Path) -> list[int]:
    """OpenSSH ControlPersist masters whose control socket is in ``control_dir``: a master
    titles itself ``ssh: CONTROL_PATH [mux]``."""
    prefix = f"ssh: {control_dir}/".encode()
    pids = []
    for pid in live_pids():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(prefix):
                pids.append(pid)
    return pids
