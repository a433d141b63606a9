"""The result model: frozen dataclasses of builtins, safe to pickle across processes."""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """What happened on one host. One set for the whole product."""

    OK = "ok"
    FAILED = "failed"  # the command ran and exited non-zero
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    HOSTKEY_REJECTED = "hostkey_rejected"
    ERROR = "error"  # connection lost, worker died, anything else
    SKIPPED = "skipped"  # left alone on purpose: a condition (when, creates, removes)
    INTERRUPTED = "interrupted"  # Ctrl-C came before it finished (or started)
    INCOMPLETE = "incomplete"  # a playbook stopped part-way on it (max_fail elsewhere)
    NOT_RUN = "not_run"  # never started: the rollout stopped at a failure limit

    def __str__(self) -> str:
        return self.value

    @property
    def failed(self) -> bool:
        """Whether this counts as a failure: every status but ok and skipped (what
        ``--rerun failed`` selects, ``RunReport.failed`` lists and a failure limit counts)."""
        return self not in (Status.OK, Status.SKIPPED)


class HostKeyPolicy(str, enum.Enum):
    """How unknown and changed SSH host keys are treated."""

    STRICT = "strict"  # unknown or changed key: refuse the host
    ACCEPT_NEW = "accept-new"  # record unknown keys, refuse changed ones
    OFF = "off"  # accept anything (warns)

    def __str__(self) -> str:
        return self.value


class Transport(str, enum.Enum):
    """How a host is reached (the inventory's ``connection`` setting)."""

    SSH = "ssh"
    LOCAL = "local"  # a local subprocess, same result model

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SshSettings:
    """How a host is reached over SSH beyond its address, port, user and keys: what
    ssh_config, the inventory's ssh options and the command line resolve to
    (:func:`hostops.host.settings.resolve_connection`). None: not set (hostops's default)."""

    proxy_command: str | None = None  # given to the user's shell as is (tokens expanded)
    identities_only: bool = False  # only the identity files, not the agent's other keys
    identity_agent: str | None = None  # agent socket; "none": no agent; None: $SSH_AUTH_SOCK
    certificate_files: tuple[str, ...] = ()
    host_key_alias: str | None = None  # the name host keys are looked up and recorded under
    known_hosts_files: tuple[str, ...] = ()  # every UserKnownHostsFile (new keys: the first)
    global_known_hosts: tuple[str, ...] = ()  # GlobalKnownHostsFile (read only)
    strict_host_key_checking: str | None = None  # as ssh -G prints it: true/false/ask/accept-new
    connect_timeout: float | None = None
    server_alive_interval: float | None = None
    server_alive_count_max: int | None = None
    connection_attempts: int | None = None  # attempts in all (--connect-retries is N more)
    address_family: str = "any"  # any, inet, inet6
    bind_address: str | None = None
    send_env: tuple[str, ...] = ()  # SendEnv: patterns of local variables sent to the host
    set_env: tuple[str, ...] = ()  # SetEnv: NAME=VALUE sent to the host
    hash_known_hosts: bool = False  # record new host keys under a hashed name
    # Options set for this host that hostops cannot honour although they change where, as
    # whom or with what trust ssh connects: "Option (FILE:LINE)". The host ends `error`.
    refused: tuple[str, ...] = ()
    # Options set that change nothing hostops does: "Option (FILE:LINE)", reported once a run.
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class Host:
    """One inventory host, with every setting already resolved."""

    name: str
    address: str
    port: int = 22
    user: str | None = None  # None: the local user name, as ssh does
    identity_files: tuple[str, ...] = ()
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    connection: Transport = Transport.SSH
    jump: str | None = None  # [user@]host[:port][,...]: jump host chain (ProxyJump)
    # The chain resolved, first hop first: each hop's own address, port, user, keys.
    jump_hosts: tuple[Host, ...] = ()
    password_env: str | None = None  # the NAME of an environment variable holding the password
    host_key_policy: HostKeyPolicy | None = None  # from ssh_config; None: the run's
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False)  # free-form variables
    # The name ssh_config's Host and Match see; None: ``name`` (as ``ssh NAME``). Ansible
    # inventories look up the connection address instead, as Ansible's ssh does.
    config_name: str | None = None
    # ``-o Key=Value`` options the inventory gives for ssh (ansible_ssh_common_args,
    # ansible_ssh_extra_args), in order: they take precedence over ssh_config, as ssh's own
    # command line does.
    ssh_options: tuple[tuple[str, str], ...] = ()
    # Where each setting came from (setting -> "inv.yaml:12", "group_vars/web.yml",
    # "~/.ssh/config:4", "--user"): what `hostops inventory --json` shows.
    origins: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    ssh: SshSettings = field(default_factory=SshSettings)
    # A digest of every resolved connection setting (where, as whom, with what trust):
    # two hosts with the same one may share a connection. None: not resolved.
    connection_id: str | None = None
    # Privilege escalation the inventory asks for (Ansible's ansible_become*): None means
    # not said, so the run's --sudo/--sudo-user decide.
    sudo: bool | None = None
    sudo_user: str | None = None
    # Why this host cannot be run as the inventory describes it (a become method other
    # than sudo): it ends `error` with this message, without a connection.
    problem: str | None = None


# What a lock (``RunOptions.lock``, ``--lock``, a play's ``lock:``) may be called: it
# becomes part of a file name on every host.
LOCK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves. Every field has a safe default."""

    workers: int | None = None  # None: the CPU count
    # Total concurrent host sessions, spread over the workers. None: adaptive, from 64
    # up while the machine's CPU has room (hostops.fleet.adaptive).
    forks: int | None = None
    connect_timeout: float = 10.0
    timeout: float | None = None  # None: the command may run forever
    host_key_policy: HostKeyPolicy | None = None  # None: the host's (ssh_config), else strict
    use_agent: bool = True
    kill_grace_s: float = 2.0  # between TERM and KILL of a timed-out command
    idle_timeout: float | None = None  # stop a command silent for this long
    connect_retries: int = 0  # more tries after a transient connect failure
    keepalive_interval: float = 15.0  # SSH keepalive after this much silence; 0: none
    keepalive_count: int = 3  # unanswered keepalives before the host counts as gone
    max_output: int = 4 << 20  # bytes of each stream kept per host; the rest is cut
    sudo: bool = False  # run the command with sudo (its password is in credentials.Secrets)
    sudo_user: str | None = None  # sudo -u USER; None: root
    # An advisory lock taken on every host when connecting, held while the connection
    # lasts (see hostops.host.ssh.lock); a host holding it elsewhere is an error.
    lock: str | None = None
    lock_timeout: float = 0.0  # seconds to wait for the lock; 0: fail at once
    lock_holder: str = ""  # who we are, for the other runs: "USER@CONTROLLER (pid N, since T)"
    debug: bool = False  # library log records (paramiko's) shown as ``hostops: debug:`` lines
    # Seconds a connection stays open after its last use, held by the background
    # process for the next command (``--persist``); None: closed at the end of the run.
    # Acted on only by a run the background process carries out (hostops.keeper).
    persist: float | None = None


@dataclass(frozen=True)
class HostResult:
    """The whole account of one host in one run.

    ``exit_code`` is None when the command did not end by itself (killed by a
    signal, never started); ``signal`` then names the signal, if one is known.
    ``stdout`` and ``stderr`` are the raw bytes the host sent.
    """

    host: str
    address: str
    status: Status
    exit_code: int | None = None
    signal: str | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    duration_s: float = 0.0
    error: str | None = None
    truncated: bool = False  # more output than the aggregator keeps (--max-output)
    attempts: int = 1  # connection attempts (--connect-retries)
    changed: bool | None = None  # put/get/play: whether the host was changed; run: None
    tasks_done: int | None = None  # play: tasks done on the host (ok, skipped, ignored)
    tasks_total: int | None = None  # play: tasks the playbook had for the host
    skipped: tuple[str, ...] = ()  # put/get: entries not transferred (links, special files)
    reused: bool = False  # over a connection kept from an earlier run (--persist)

    def to_json(self) -> dict[str, object]:
        """The documented JSON object of ``--output json`` (invalid UTF-8 replaced)."""
        return {
            "host": self.host,
            "address": self.address,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "truncated": self.truncated,
            "attempts": self.attempts,
            "changed": self.changed,
            "tasks_done": self.tasks_done,
            "tasks_total": self.tasks_total,
            "skipped": list(self.skipped),
            "reused": self.reused,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HostResult:
        """The inverse of :meth:`to_json` (output comes back as UTF-8 bytes)."""
        return cls(
            host=data["host"],
            address=data.get("address", data["host"]),
            status=Status(data["status"]),
            exit_code=data.get("exit_code"),
            signal=data.get("signal"),
            stdout=(data.get("stdout") or "").encode(),
            stderr=(data.get("stderr") or "").encode(),
            duration_s=float(data.get("duration_s") or 0.0),
            error=data.get("error"),
            truncated=bool(data.get("truncated")),
            attempts=int(data.get("attempts") or 1),
            changed=data.get("changed"),
            tasks_done=data.get("tasks_done"),
            tasks_total=data.get("tasks_total"),
            skipped=tuple(data.get("skipped") or ()),
            reused=bool(data.get("reused")),
        )


@dataclass(frozen=True)
class WorkerStats:
    """What one worker process did: for diagnostics and for the tests of the engine's shape."""

    pid: int
    hosts: int = 0
    known_hosts_loads: int = 0  # files parsed; at most one per distinct file per worker
    key_loads: int = 0  # private key files parsed; at most one per distinct file per worker


@dataclass(frozen=True)
class RunReport:
    """Every host's result, in inventory order, and how the run went."""

    results: tuple[HostResult, ...]
    duration_s: float
    workers: tuple[WorkerStats, ...] = ()
    interrupted: bool = False
    warnings: tuple[str, ...] = field(default=())
    # Why some of the run's output could not be written ("standard output: No space
    # left on device"): the run went on, its results are all here, its output is not.
    output_lost: str | None = None

    @property
    def succeeded(self) -> tuple[HostResult, ...]:
        """Hosts whose status is ok."""
        return tuple(r for r in self.results if r.status is Status.OK)

    @property
    def failed(self) -> tuple[HostResult, ...]:
        """Hosts whose status is neither ok nor skipped."""
        return tuple(r for r in self.results if r.status.failed)

    def counts(self) -> Counter[Status]:
        """How many hosts ended in each status."""
        return Counter(r.status for r in self.results)
