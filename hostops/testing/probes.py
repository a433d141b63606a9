"""Small functions the cluster tests submit to Dask workers (importable there by name,
as hostops is installed on every worker)."""

from __future__ import annotations

import multiprocessing
import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ChildProbe:
    """Whether the worker process is daemonic, and how starting a child went."""

    daemonic: bool
    exitcode: int | None  # the child's, when it ran
    error: str | None  # why it could not start


def start_child() -> ChildProbe:
    """Start a multiprocessing child (spawn, as a shard's engine would) and wait for it."""
    daemonic = multiprocessing.current_process().daemon
    child = multiprocessing.get_context("spawn").Process(target=os.getpid)
    try:
        child.start()
    except AssertionError as exc:  # "daemonic processes are not allowed to have children"
        return ChildProbe(daemonic, None, str(exc))
    child.join()
    return ChildProbe(daemonic, child.exitcode, None)


def ssh_banner(address: str, port: int) -> str:
    """The first line an SSH server sends, or the error that prevented reading it."""
    try:
        with socket.create_connection((address, port), timeout=5.0) as s:
            s.settimeout(5.0)
            return s.recv(256).split(b"\r\n")[0].decode(errors="replace")
    except OSError as exc:
        return f"error: {exc.strerror or exc}"
