"""Every option shared by several commands, declared once, in groups.

A group is a frozen dataclass whose fields are typer options; a command takes a
group as one parameter (``execution: Execution``) and :func:`grouped` lets typer
see the group's fields as options in that place. The values then travel as the
group, by name, to the builders (hostops.cli.build) that make library values of
them. Defaults that the library also has come from :class:`~hostops.models.RunOptions`.

No ``from __future__ import annotations``: typer reads these annotations as
objects (evaluating strings would cost ~40 ms per start).
"""

import dataclasses
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from hostops.cli.completers import host_words, limit_words, run_words, status_words
from hostops.cli.values import size_text
from hostops.credentials import ENV_KEY_PASSPHRASE, ENV_PASSWORD, ENV_SUDO_PASSWORD
from hostops.fleet.adaptive import START
from hostops.models import LOCK_NAME, HostKeyPolicy, RunOptions
from hostops.render.console import OutputMode

_DEFAULTS = RunOptions()


def positive(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter("must be at least 1")
    return value


def _lock_name(value: str | None) -> str | None:
    if value is not None and not LOCK_NAME.match(value):
        raise typer.BadParameter(f"{value!r} is not a lock name (letters, digits, '.', '_', '-')")
    return value


def _seconds(value: float | None) -> float | None:
    if value is not None and not value > 0:  # NaN too
        raise typer.BadParameter("must be more than 0 seconds")
    return value


@dataclass(frozen=True)
class Targets:
    """Which hosts: inventory sources (and the passwords of their vaulted files) or a
    host list, narrowed by a pattern."""

    hosts: Annotated[
        list[Path] | None,
        typer.Option(
            "--hosts",
            "-i",
            show_default=False,
            help="Inventory: a file (hostops YAML, Ansible YAML or INI), a directory of them or a dynamic inventory script; repeat for several, merged in order. [default: $HOSTOPS_INVENTORY, a comma-separated list]",
        ),
    ] = None
    vault_password_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--vault-password-file",
            show_default=False,
            help="File holding the Ansible Vault password (an executable is run: its output is the password); repeatable. [default: $HOSTOPS_VAULT_PASSWORD_FILE]",
        ),
    ] = None
    vault_id: Annotated[
        list[str] | None,
        typer.Option(
            "--vault-id",
            show_default=False,
            help="An Ansible Vault password as [LABEL@]FILE; repeatable.",
        ),
    ] = None
    host_list: Annotated[
        str | None,
        typer.Option(
            "--host",
            "-H",
            autocompletion=host_words,
            help="Hosts without an inventory: 'web[01-05],db1'.",
        ),
    ] = None
    limit: Annotated[
        str | None,
        typer.Option(
            "--limit",
            "-l",
            autocompletion=limit_words,
            help="Host pattern: 'web:&prod:!web03', 'web[01-05]', '~re', '@file'.",
        ),
    ] = None
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="An inventory with no hosts is nothing to do (exit 0), not an error.",
        ),
    ] = False


@dataclass(frozen=True)
class HostSettings:
    """Settings for every selected host, over the inventory's and ssh_config's."""

    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Log in as this user on every host.")
    ] = None
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", min=1, max=65535, help="SSH port for every host."),
    ] = None
    identity: Annotated[
        list[Path] | None,
        typer.Option(
            "--identity", help="Private key file; repeat for several. Replaces the inventory's."
        ),
    ] = None
    known_hosts: Annotated[
        Path | None,
        typer.Option(
            "--known-hosts",
            help="known_hosts file for every host [default: inventory, else ~/.ssh/known_hosts]",
        ),
    ] = None
    jump: Annotated[
        str | None,
        typer.Option(
            "--jump",
            "-J",
            help="Jump host chain for every host, as ssh -J: '[user@]host[:port][,...]' ('none': no jump).",
        ),
    ] = None
    ssh_config: Annotated[
        Path | None,
        typer.Option(
            "--ssh-config",
            help="ssh_config file to use [default: ~/.ssh/config, /etc/ssh/ssh_config].",
        ),
    ] = None
    no_ssh_config: Annotated[
        bool, typer.Option("--no-ssh-config", help="Read no ssh_config file.")
    ] = False


@dataclass(frozen=True)
class Auth:
    """How hosts are trusted and logged in to."""

    host_key_policy: Annotated[
        HostKeyPolicy | None,
        typer.Option(
            "--host-key-policy",
            show_default=False,
            help="Unknown or changed host keys: strict refuses both, accept-new records unknown ones, off accepts anything. [default: strict, or ssh_config's StrictHostKeyChecking]",
        ),
    ] = _DEFAULTS.host_key_policy
    no_agent: Annotated[
        bool, typer.Option("--no-agent", help="Do not use the SSH agent (SSH_AUTH_SOCK).")
    ] = not _DEFAULTS.use_agent
    ask_pass: Annotated[
        bool,
        typer.Option(
            "--ask-pass",
            help=f"Ask once for the login password, tried after the keys (else: ${ENV_PASSWORD}).",
        ),
    ] = False
    ask_key_pass: Annotated[
        bool,
        typer.Option(
            "--ask-key-pass",
            help=f"Ask once for the passphrase of encrypted private keys (else: ${ENV_KEY_PASSPHRASE}).",
        ),
    ] = False


@dataclass(frozen=True)
class SudoAs:
    """Whom sudo runs as and its password: both imply ``--sudo``."""

    sudo_user: Annotated[
        str | None,
        typer.Option("--sudo-user", help="sudo as USER instead of root (implies --sudo)."),
    ] = _DEFAULTS.sudo_user
    ask_sudo_pass: Annotated[
        bool,
        typer.Option(
            "--ask-sudo-pass",
            help=f"Ask once for the sudo password (implies --sudo; else: ${ENV_SUDO_PASSWORD}).",
        ),
    ] = False

    def with_sudo(self, sudo: bool) -> bool:
        """Whether sudo is wanted: ``--sudo``, or an option of this group that implies it."""
        return sudo or self.ask_sudo_pass or self.sudo_user is not None


@dataclass(frozen=True)
class Execution:
    """How the run goes: concurrency, time limits, connection upkeep."""

    forks: Annotated[
        int | None,
        typer.Option(
            "--forks",
            "-f",
            callback=positive,
            show_default=False,
            help=f"Hosts handled at once, in total. [default: adaptive: {START} at first, more while the CPU has room]",
        ),
    ] = _DEFAULTS.forks
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            callback=positive,
            show_default=False,
            help="Worker processes [default: CPU count].",
        ),
    ] = _DEFAULTS.workers
    # Not given (None), ssh_config's setting applies to a host, else RunOptions' default.
    connect_timeout: Annotated[
        float | None,
        typer.Option(
            "--connect-timeout",
            callback=_seconds,
            show_default=False,
            help=f"Seconds to connect and authenticate. [default: ssh_config's ConnectTimeout, else {_DEFAULTS.connect_timeout:g}]",
        ),
    ] = None
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            callback=_seconds,
            show_default=False,
            help="Seconds a command (or transfer) may run; then it is killed and the host reported as timeout. [default: none]",
        ),
    ] = _DEFAULTS.timeout
    idle_timeout: Annotated[
        float | None,
        typer.Option(
            "--idle-timeout",
            callback=_seconds,
            show_default=False,
            help="Seconds a command may go without output; then it is killed and the host reported as timeout. [default: none]",
        ),
    ] = _DEFAULTS.idle_timeout
    connect_retries: Annotated[
        int | None,
        typer.Option(
            "--connect-retries",
            min=0,
            show_default=False,
            help=f"Retries after a connection is refused, reset or times out (backoff with jitter; never after auth or host key failures). [default: ssh_config's ConnectionAttempts - 1, else {_DEFAULTS.connect_retries}]",
        ),
    ] = None
    keepalive: Annotated[
        str | None,
        typer.Option(
            "--keepalive",
            show_default=False,
            help=f"INTERVAL,COUNT: after INTERVAL s of silence ask the host for a reply; COUNT unanswered: error. 0 turns it off. [default: ssh_config's ServerAliveInterval,ServerAliveCountMax, else {_DEFAULTS.keepalive_interval:g},{_DEFAULTS.keepalive_count}]",
        ),
    ] = None
    persist: Annotated[
        str | None,
        typer.Option(
            "--persist",
            envvar="HOSTOPS_PERSIST",
            show_default=False,
            metavar="DURATION",
            help="Keep the connections open this long after their last use (10m, 90s, 2h; 0 or no: off), held by your background process: the next command with --persist reuses them (no connect, no login). See 'hostops persist'. [default: off]",
        ),
    ] = None
    no_persist: Annotated[
        bool,
        typer.Option(
            "--no-persist",
            help="Neither use nor keep warm connections for this command (overrides --persist and HOSTOPS_PERSIST).",
        ),
    ] = False


@dataclass(frozen=True)
class Locking:
    """A lock on every host against two rollouts at once (run, put, play)."""

    lock: Annotated[
        str | None,
        typer.Option(
            "--lock",
            callback=_lock_name,
            show_default=False,
            help="Take the advisory lock NAME on every host before anything runs there; a host where another run holds it is an error. [default: none, or a play's lock:]",
        ),
    ] = _DEFAULTS.lock
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout",
            min=0,
            help="Seconds to wait for a host's --lock held by another run; 0: fail at once.",
        ),
    ] = _DEFAULTS.lock_timeout


@dataclass(frozen=True)
class Rollout:
    """Rolling batches (run, put)."""

    batch: Annotated[
        str | None,
        typer.Option(
            "--batch",
            help="Rolling: N hosts (or P% of them) at a time; the next batch starts when one is done. [default: all at once]",
        ),
    ] = None
    max_fail: Annotated[
        str | None,
        typer.Option(
            "--max-fail",
            help="With --batch: after a batch with more failed hosts than N (or P% of it), no further batch starts. [default: stop only when a whole batch failed]",
        ),
    ] = None


OutputOpt = Annotated[
    OutputMode,
    typer.Option(
        "--output",
        "-o",
        help="stream: lines as they arrive; gather: identical outputs folded; diff: the majority once, the others as diffs; json: one JSON object per host; quiet: the summary only.",
    ),
]


@dataclass(frozen=True)
class Display:
    """How results are shown and kept while the run goes."""

    output: OutputOpt = OutputMode.STREAM
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="gather/diff: redraw the view on the terminal as hosts finish."
        ),
    ] = False
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            help="Also write each host's output to DIR/HOST.out, DIR/HOST.err and DIR/HOST.status, as it arrives.",
        ),
    ] = None
    max_output: Annotated[
        str,
        typer.Option(
            "--max-output",
            help="Output kept in memory per host and stream (K, M, G suffixes); the rest is cut with a marker (--out-dir keeps all).",
        ),
    ] = size_text(_DEFAULTS.max_output)


@dataclass(frozen=True)
class Rerun:
    """Only the hosts of a recorded run that ended with some statuses."""

    rerun: Annotated[
        str | None,
        typer.Option(
            "--rerun",
            autocompletion=status_words,
            help="Only hosts that ended with these statuses in the last run (or --from-run): 'failed' (all but ok and skipped) or a list like 'unreachable,timeout'.",
        ),
    ] = None
    from_run: Annotated[
        str | None,
        typer.Option(
            "--from-run",
            autocompletion=run_words,
            help="The run --rerun looks at: an id from 'hostops history', a prefix of one, 'last' or 'last-N'. [default: last]",
        ),
    ] = None


# Single options that several commands take.
NoRecordOpt = Annotated[bool, typer.Option("--no-record", help="Write no run record for this run.")]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colours (also: NO_COLOR set).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]
FollowLinksOpt = Annotated[
    bool,
    typer.Option(
        "--follow-links",
        help="Follow symbolic links to directories (put) or any link (get), as rsync -L;"
        " without it they are skipped and reported.",
    ),
]


@dataclass(frozen=True)
class ClusterUse:
    """The Dask cluster a run's hosts are run on (README, "Cluster")."""

    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            show_default=False,
            help="Dask scheduler to run on: tls://HOST[:PORT] (mutual TLS, Dask's certificates) or tcp://HOST[:PORT]. [default: $HOSTOPS_CLUSTER]",
        ),
    ] = None


@dataclass(frozen=True)
class Reach:
    """Which hosts, how each is reached (from here, or from a cluster's workers), and how
    it is trusted and logged in to."""

    targets: Targets
    settings: HostSettings
    auth: Auth
    cluster: ClusterUse


@dataclass(frozen=True)
class Results:
    """How results are shown and recorded, and which recorded ones select the hosts."""

    display: Display
    rerun: Rerun
    no_record: NoRecordOpt = False
    no_color: NoColorOpt = False
    debug: DebugOpt = False


GROUPS = (
    Targets,
    HostSettings,
    Auth,
    SudoAs,
    Execution,
    Locking,
    Rollout,
    Display,
    Rerun,
    ClusterUse,
    Reach,
    Results,
)

F = TypeVar("F", bound=Callable[..., Any])


def _options(group: type[Any]) -> list[inspect.Parameter]:
    """The options of ``group`` in order, those of a group within it in its place."""
    found: list[inspect.Parameter] = []
    for f in dataclasses.fields(group):
        if f.type in GROUPS:
            found += _options(f.type)
        else:
            found.append(
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type
                )
            )
    return found


def _build(group: type[Any], values: dict[str, Any]) -> Any:
    """``group`` made of the options' ``values`` (taken out of them)."""
    return group(
        **{
            f.name: _build(f.type, values) if f.type in GROUPS else values.pop(f.name)
            for f in dataclasses.fields(group)
        }
    )


def grouped(command: F) -> F:
    """Let ``command``'s parameters annotated with a group (one of :data:`GROUPS`) stand
    for the group's options: typer sees every option of the group at the parameter's
    place, and ``command`` receives the group built from their values.

    Group parameters are keyword-only (after ``*``), so they need no default.
    """
    signature = inspect.signature(command)
    groups: dict[str, type[Any]] = {}
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.annotation in GROUPS:
            groups[parameter.name] = parameter.annotation
            parameters += _options(parameter.annotation)
        else:
            parameters.append(parameter)

    @functools.wraps(command)
    def with_groups(**values: Any) -> Any:
        built = {name: _build(group, values) for name, group in groups.items()}
        return command(**values, **built)

    # Raises ValueError if two groups (or a group and the command) share an option name.
    with_groups.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]  # what inspect.signature (and typer) read
    with_groups.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_groups  # type: ignore[return-value]  # same call, its signature rewritten for typer
