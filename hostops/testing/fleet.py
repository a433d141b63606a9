"""Start and stop real OpenSSH sshd daemons on loopback addresses."""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostops.models import Host

SSHD = "/usr/sbin/sshd"  # sshd refuses to run from a relative path
_READY_TIMEOUT_S = 15.0
# sshd logs one line per accepted login, at the start of the line (debug lines are prefixed).
_LOGIN = re.compile(r"^Accepted publickey for ", re.M)


class SshdMissing(RuntimeError):
    """OpenSSH's sshd is not installed: tests need it (apt-get install openssh-server)."""


def free_port(address: str) -> int:
    """A TCP port that is free on ``address`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def loopback_address(index: int, base: int = 42) -> str:
    """The index-th fleet address: 127.<base>.x.y, never 127.0.0.1."""
    return f"127.{base}.{index // 250}.{index % 250 + 1}"


@dataclass
class FleetHost:
    """One sshd of the fleet."""

    name: str
    address: str
    port: int
    directory: Path
    host_key_line: str = ""  # "ssh-ed25519 AAAA..." of this daemon
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        """The daemon's own log (sshd -e writes to stderr, which goes here)."""
        return self.directory / "sshd.log"

    @property
    def known_hosts_pattern(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def logins(self) -> int:
        """Public-key logins this daemon has accepted so far (its log says so, one line each)."""
        return len(_LOGIN.findall(self.log.read_text(errors="replace")))


class LogTail:
    """What a daemon's log (:attr:`FleetHost.log`) has gained since this object was made:
    what one step of a test made the daemon do."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size

    def new(self) -> str:
        """The log's text written since."""
        with open(self.path, encoding="utf-8", errors="replace") as f:
            f.seek(self.start)
            return f.read()

    def logins(self) -> int:
        """Public-key logins the daemon has accepted since."""
        return len(_LOGIN.findall(self.new()))


class SshdFleet:
    """N real sshd daemons under ``root``; use as a context manager.

    ``user`` is who logs in (default: the current user); the generated client
    key is authorized for every daemon. ``extra_config`` lines are added to
    every sshd_config (e.g. ``LogLevel DEBUG``); a line whose keyword is one of
    the defaults replaces that default (e.g. ``UsePAM yes``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        count: int,
        *,
        user: str | None = None,
        extra_config: tuple[str, ...] = (),
        name_format: str = "host{:02d}",
        address_base: int = 42,
    ) -> None:
        if not os.path.exists(SSHD):
            raise SshdMissing(
                f"{SSHD} not found: install openssh-server (apt-get install openssh-server)"
            )
        self.root = Path(root)
        self.count = count
        self.user = user or getpass.getuser()
        self.extra_config = extra_config
        self.hosts: list[FleetHost] = [
            FleetHost(
                name=name_format.format(i + 1),
                address=loopback_address(i, address_base),
                port=0,
                directory=self.root / name_format.format(i + 1),
            )
            for i in range(count)
        ]
        self.client_key = self.root / "client_key"
        self.known_hosts = self.root / "known_hosts"
        self.authorized_keys = self.root / "authorized_keys"

    # -- lifecycle --------------------------------------------------------------
    def __enter__(self) -> SshdFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Generate keys, start every daemon, wait until each answers with its banner."""
        self.root.mkdir(parents=True, exist_ok=True)
        # Readable by other users: sshd reads authorized_keys as the target user.
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privsep directory
        _keygen(self.client_key)
        shutil.copy(f"{self.client_key}.pub", self.authorized_keys)
        os.chmod(self.authorized_keys, 0o644)
        try:
            for host in self.hosts:
                self._launch(host)
            for host in self.hosts:
                self._wait_ready(host)
        except BaseException:
            self.stop()
            raise
        self.write_known_hosts(self.known_hosts)

    def stop(self) -> None:
        """Stop every daemon and the sessions it serves."""
        for host in self.hosts:
            if host.process and host.process.poll() is None:
                _killpg(host.process.pid, signal.SIGTERM)
        for host in self.hosts:
            if host.process:
                try:
                    host.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _killpg(host.process.pid, signal.SIGKILL)
                    host.process.wait(timeout=5)

    def _launch(self, host: FleetHost, attempts: int = 5) -> None:
        host.directory.mkdir(parents=True, exist_ok=True)
        key = self._host_key(host)
        for _ in range(attempts):
            host.port = self._pick_port(host)
            argv = self._argv(host, key)
            with open(host.log, "ab") as log:
                host.process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # stop() kills it and its sessions as a group
                )
            # The port was free a moment ago; another process may have taken it since.
            if self._banner_or_exit(host):
                return
        raise RuntimeError(
            f"{argv[0]} for {host.name} did not start: {host.log.read_text()[-2000:]}"
        )

    def _host_key(self, host: FleetHost) -> Path:
        """The daemon's host key (made once); sets ``host.host_key_line``."""
        key = host.directory / "ssh_host_ed25519_key"
        if not key.exists():
            _keygen(key)
        host.host_key_line = " ".join(Path(f"{key}.pub").read_text().split()[:2])
        return key

    def _argv(self, host: FleetHost, key: Path) -> list[str]:
        """The daemon's command line, listening on ``host``'s address and port."""
        config = host.directory / "sshd_config"
        config.write_text(self._config(host, key))
        return [SSHD, "-D", "-e", "-f", str(config)]

    def _banner_or_exit(self, host: FleetHost) -> bool:
        """Wait until the daemon answers (True) or exits (False)."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert host.process is not None
            if host.process.poll() is not None:
                return False
            if self._answers(host):
                return True
            time.sleep(0.01)
        raise RuntimeError(f"sshd for {host.name} gave no banner in {_READY_TIMEOUT_S} s")

    # Hooks for daemons this process cannot reach (hostops.testing.netns).
    def _pick_port(self, host: FleetHost) -> int:
        return free_port(host.address)

    def _answers(self, host: FleetHost) -> bool:
        return _banner(host.address, host.port)

    def _wait_ready(self, host: FleetHost) -> None:
        if not self._banner_or_exit(host):
            raise RuntimeError(f"sshd for {host.name} exited: {host.log.read_text()[-2000:]}")

    def _config(self, host: FleetHost, key: Path) -> str:
        lines = [
            f"ListenAddress {host.address}:{host.port}",
            f"HostKey {key}",
            f"PidFile {host.directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "MaxStartups 1000",
            "MaxSessions 200",
            "UseDNS no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            # bash started by sshd sources ~/.bashrc when SHLVL < 2; a developer's
            # .bashrc (pyenv init ...) would add ~100 ms to every command. Every daemon
            # is this one machine: each gets its own lock directory (--lock), as
            # separate hosts would have.
            f"SetEnv SHLVL=1 HOSTOPS_LOCK_DIR={host.directory}",
        ]
        # sshd keeps the first value of a keyword: an extra line replaces the default
        # line of the same keyword (UsePAM yes for a PAM daemon), the rest are added.
        overridden = {line.split()[0].lower() for line in self.extra_config if line.strip()}
        lines = [line for line in lines if line.split()[0].lower() not in overridden]
        return "\n".join([*lines, *self.extra_config]) + "\n"

    # -- files for clients --------------------------------------------------------
    def write_known_hosts(
        self, path: str | os.PathLike[str], hosts: list[FleetHost] | None = None
    ) -> Path:
        """Write known_hosts lines for ``hosts`` (default: all) to ``path``."""
        lines = [f"{h.known_hosts_pattern} {h.host_key_line}\n" for h in (hosts or self.hosts)]
        Path(path).write_text("".join(lines))
        return Path(path)

    def inventory_text(
        self,
        hosts: list[FleetHost] | None = None,
        *,
        known_hosts: str | os.PathLike[str] | None = None,
        identity_file: str | os.PathLike[str] | None = None,
        extra: dict[str, tuple[str, int]] | None = None,
    ) -> str:
        """A native YAML inventory for ``hosts`` (default: all), plus ``extra`` hosts
        (name -> (address, port)) that are not fleet daemons: closed ports, tarpits."""
        lines = [
            "defaults:",
            f"  user: {self.user}",
            f"  identity_file: {identity_file or self.client_key}",
            f"  known_hosts: {known_hosts or self.known_hosts}",
            "hosts:",
        ]
        entries = [(h.name, h.address, h.port) for h in hosts or self.hosts]
        entries += [(name, address, port) for name, (address, port) in (extra or {}).items()]
        for name, address, port in entries:
            lines += [f"  {name}:", f"    address: {address}", f"    port: {port}"]
        return "\n".join(lines) + "\n"

    def host(self, index: int, *, user: str | None = None, **kw: Any) -> Host:
        """The ``index``-th daemon as a resolved Host (the fleet's user, key and
        known_hosts), ready for hostops.connect or run_operation; ``kw`` sets other fields."""
        fh = self.hosts[index]
        fields: dict[str, Any] = {
            "identity_files": (str(self.client_key),),
            "known_hosts": str(self.known_hosts),
            **kw,
        }
        return Host(fh.name, fh.address, fh.port, user=user or self.user, **fields)

    def write_inventory(
        self, path: str | os.PathLike[str], hosts: list[FleetHost] | None = None, **kw: Any
    ) -> Path:
        """Write :meth:`inventory_text` to ``path`` and return the path."""
        Path(path).write_text(self.inventory_text(hosts, **kw))
        return Path(path)


def _keygen(path: Path) -> None:
    if path.exists():
        return
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hostops-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _banner(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0) as s:
            s.settimeout(2.0)
            return s.recv(64).startswith(b"SSH-2.0")
    except OSError:
        return False


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
