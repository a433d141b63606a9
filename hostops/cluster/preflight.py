"""The pre-flight check a cluster worker runs before any host does: its hosts'
connection settings resolve there, and the files their connections will read exist
there and can be read.

Connection material is the worker's: the hosts are resolved on the worker machine
where they run (hostops.cluster.resolve: its ssh_config, ``~``), and the files they
name are opened there. :func:`hosts_to_check` (controller side) lists each worker's
hosts; :func:`check_hosts` runs on the worker (submitted by
:func:`hostops.cluster.connect.preflight`, no Dask here): hostops must be installed
there, it is imported by name.
"""

from __future__ import annotations

import enum
import multiprocessing
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hostops._version import __version__
from hostops.cluster.resolve import Resolution, without_vars
from hostops.cluster.shards import Shard
from hostops.errors import HostopsError
from hostops.models import Host


class FileRole(str, enum.Enum):
    IDENTITY = "identity file"  # must exist and be readable
    KNOWN_HOSTS = "known_hosts"  # may be missing (nothing known), must be readable if there


@dataclass(frozen=True, order=True)
class FileCheck:
    """One file a worker's hosts will read, and what is asked of it."""

    path: str  # as the inventory (or ssh_config) gives it; ~ is the worker's home
    role: FileRole


@dataclass(frozen=True)
class WorkerReport:
    """What a worker found: its machine, its hostops, whether it is a daemonic process
    (which may not start multiprocessing children), and the problems, one line each."""

    hostname: str
    version: str
    daemonic: bool
    problems: tuple[str, ...] = ()


def _host_files(host: Host) -> Iterable[FileCheck]:
    for hop in (*host.jump_hosts, host):
        for path in hop.identity_files:
            yield FileCheck(path, FileRole.IDENTITY)
        # as the host layer reads them (hostops.host.ssh.trust.lookup)
        for path in hop.ssh.known_hosts_files or (hop.known_hosts or "~/.ssh/known_hosts",):
            yield FileCheck(path, FileRole.KNOWN_HOSTS)
        for path in hop.ssh.global_known_hosts:
            yield FileCheck(path, FileRole.KNOWN_HOSTS)


def hosts_to_check(shards: Sequence[Shard], hosts: Sequence[Host]) -> dict[str, tuple[Host, ...]]:
    """Worker address -> the hosts of its shards, without their variables (a pre-flight
    task's arguments are the scheduler's to see: hostops.cluster.resolve.without_vars)."""
    by_name = {h.name: h for h in hosts}
    found: dict[str, list[Host]] = {}
    for shard in shards:
        found.setdefault(shard.worker.address, []).extend(by_name[n] for n in shard.hosts)
    return {worker: without_vars(chosen) for worker, chosen in found.items()}


def files_of(hosts: Iterable[Host]) -> tuple[FileCheck, ...]:
    """The files ``hosts`` (resolved) will read, each once, sorted."""
    return tuple(sorted({f for host in hosts for f in _host_files(host)}))


def check_hosts(hosts: Sequence[Host], resolution: Resolution | None) -> WorkerReport:
    """Run on a worker: ``hosts`` resolved here (``resolution`` None: they already are),
    then :func:`check_files` of the files they name. Never raises."""
    try:
        resolved = list(hosts) if resolution is None else resolution.resolve(hosts)
    except HostopsError as exc:
        return check_files((), (f"connection settings: {exc}",))
    return check_files(files_of(resolved))


def check_files(checks: Sequence[FileCheck], found: Sequence[str] = ()) -> WorkerReport:
    """Run on a worker: every identity file exists and is readable, every known_hosts
    file that exists is readable (a missing one knows no host, as locally). Never
    raises: the problems are the report's (after those ``found`` before)."""
    problems = list(found)
    for check in checks:
        path = os.path.expanduser(check.path)
        if not os.path.exists(path):
            if check.role is FileRole.IDENTITY:
                problems.append(f"{check.role.value} {check.path}: no such file")
        elif not os.path.isfile(path):
            problems.append(f"{check.role.value} {check.path}: not a file")
        elif not os.access(path, os.R_OK):
            problems.append(f"{check.role.value} {check.path}: not readable")
    return WorkerReport(
        hostname=socket.gethostname(),
        version=__version__,
        daemonic=multiprocessing.current_process().daemon,
        problems=tuple(problems),
    )
