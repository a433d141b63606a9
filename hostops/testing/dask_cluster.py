"""A real Dask cluster for tests: ``dask scheduler`` and ``dask worker`` processes with
mutual TLS, started with the commands the README documents (never an in-process
LocalCluster), each counted ready only when it says so in its log.

No Dask is imported here (hostops.cluster is its only importer): the processes are
the ``dask`` command installed beside this Python.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hostops.testing.tls import ClusterCerts, make_cluster_certs

_READY_TIMEOUT_S = 60.0  # a worker on a loaded 2-core machine takes a few seconds
_REGISTERED = "Registered to:"
DAEMON_OFF = {"DASK_DISTRIBUTED__WORKER__DAEMON": "False"}  # the README's worker setting


def dask_command() -> str:
    """The ``dask`` command of this Python's environment."""
    found = Path(sys.executable).parent / "dask"
    if not found.exists():
        raise RuntimeError(f"{found} is missing: pip install 'hostops[cluster]'")
    return str(found)


@dataclass
class DaskProcess:
    """One ``dask scheduler`` or ``dask worker`` process and its log."""

    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the process group (a worker's nanny and worker alike); wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class DaskCluster:
    """A scheduler and workers under ``root``, with TLS material of their own
    (``certs``; made anew when None). Use as a context manager: every process is
    stopped on exit, whatever happened."""

    def __init__(
        self, root: Path, *, host: str = "127.0.0.1", certs: ClusterCerts | None = None
    ) -> None:
        self.root = root
        self.host = host
        self.certs = certs or make_cluster_certs(root / "tls")
        self.scheduler: DaskProcess | None = None
        self.workers: dict[str, DaskProcess] = {}
        self.address = ""

    def __enter__(self) -> DaskCluster:
        try:
            self.start_scheduler()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tls_args(self, role: str) -> list[str]:
        pair = getattr(self.certs, role)
        return [
            "--tls-ca-file",
            str(self.certs.ca),
            "--tls-cert",
            str(pair.cert),
            "--tls-key",
            str(pair.key),
        ]

    def scheduler_argv(self) -> list[str]:
        """``dask scheduler`` with TLS on ``host``, a free port, no dashboard."""
        return [
            dask_command(),
            "scheduler",
            "--protocol",
            "tls",
            "--host",
            self.host,
            "--port",
            "0",
            "--no-dashboard",
            "--dashboard-address",
            f"{self.host}:0",  # the HTTP server (health, metrics) starts regardless
            "--scheduler-file",
            str(self.root / "scheduler.json"),
            *self._tls_args("scheduler"),
        ]

    def worker_argv(
        self, name: str, sites: Sequence[str] = (), *, nanny: bool = True, host: str | None = None
    ) -> list[str]:
        """``dask worker`` for this cluster, serving ``sites`` (their resources)."""
        argv = [
            dask_command(),
            "worker",
            self.address,
            "--name",
            name,
            "--nthreads",
            "2",
            "--host",
            host or self.host,
            "--no-dashboard",
            "--local-directory",
            str(self.root / name),
            *self._tls_args("worker"),
        ]
        if sites:
            argv += ["--resources", ",".join(f"hostops-site-{s}=1" for s in sites)]
        if not nanny:
            argv.append("--no-nanny")
        return argv

    def start_scheduler(self) -> str:
        """Start the scheduler; its address once it listens (it writes the scheduler file)."""
        self.root.mkdir(parents=True, exist_ok=True)
        info = self.root / "scheduler.json"
        info.unlink(missing_ok=True)
        self.scheduler = self._spawn("scheduler", self.scheduler_argv(), {})
        self._wait(self.scheduler, lambda: info.exists() and info.stat().st_size > 0)
        self.address = str(json.loads(info.read_text())["address"])
        return self.address

    def add_worker(
        self,
        name: str,
        sites: Sequence[str] = (),
        *,
        nanny: bool = True,
        env: Mapping[str, str] = DAEMON_OFF,
        host: str | None = None,
        prefix: Sequence[str] = (),
    ) -> DaskProcess:
        """Start a worker and wait until it has registered with the scheduler. ``env``:
        variables for it (default: Dask's ``worker.daemon`` off, as the README says);
        ``prefix``: a command it runs under (``ip netns exec NS``)."""
        argv = [*prefix, *self.worker_argv(name, sites, nanny=nanny, host=host)]
        worker = self.workers[name] = self._spawn(name, argv, env)
        self._wait(worker, lambda: _REGISTERED in worker.log.read_text(errors="replace"))
        return worker

    def stop(self) -> None:
        """Stop every worker, then the scheduler."""
        for worker in self.workers.values():
            worker.stop()
        if self.scheduler is not None:
            self.scheduler.stop()

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> DaskProcess:
        proc = DaskProcess(name, argv, self.root / f"{name}.log")
        with open(proc.log, "ab") as log:
            proc.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, **env},
                cwd=self.root,
                start_new_session=True,  # stop() signals it and its children as a group
            )
        return proc

    def _wait(self, proc: DaskProcess, ready: Callable[[], bool]) -> None:
        assert proc.process is not None
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not ready():
            if proc.process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited: {proc.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} not ready in {_READY_TIMEOUT_S} s")
            time.sleep(0.02)
