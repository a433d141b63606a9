"""The command line: options in, one library call, an exit code out. The only typer user.

No ``from __future__ import annotations`` here: typer would have to evaluate every
option's annotation string at start-up (``typing.get_type_hints``, ~40 ms per run).
"""

import gc

# As in hostops/__init__.py: no collection while the modules load (~0.1 s of CPU).
_collecting = gc.isenabled()
gc.disable()

import dataclasses
import itertools
import os
import stat
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from hostops import __version__
from hostops.batches import Count
from hostops.credentials import (
    ENV_KEY_PASSPHRASE,
    ENV_PASSWORD,
    ENV_SUDO_PASSWORD,
    Secrets,
    secrets_from_environment,
)
from hostops.errors import EXIT_USAGE, HostopsError, NothingToDo, UsageError, exit_code_for
from hostops.fleet.aggregator import replay
from hostops.fleet.engine import console_lock
from hostops.fleet.rollout import play_plan, run_operation
from hostops.host.settings import Overrides, ignored_options, resolve_all
from hostops.host.ssh_config import SshConfig
from hostops.inventory import (
    Inventory,
    build,
    load_raw,
    pattern_warning,
    raw_from_host_list,
    resolve_hosts,
    select_names,
    with_vault,
)
from hostops.inventory.show import inventory_graph, inventory_json, inventory_table
from hostops.journal import (
    Journal,
    RecordPath,
    RunState,
    find_run,
    history_json,
    history_text,
    iter_summaries,
    load_run,
    parse_statuses,
    run_state,
)
from hostops.liblog import route_library_logs
from hostops.models import Host, HostKeyPolicy, RunOptions, RunReport
from hostops.operations import Command, Download, Operation, Upload
from hostops.render.console import Console, OutputMode, ViewOptions, summary_text
from hostops.render.views import recap_text
from hostops.safefs import private_dir
from hostops.vault import Vault, load_vault, mask

if _collecting:
    gc.enable()

# typer raises click's exception classes (vendored in recent typer): find them through
# a public one rather than importing a click that may not be the one typer uses.
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

_argv: list[str] = []  # this invocation's arguments, for the run record

app = typer.Typer(
    name="hostops",
    help="Run commands on many hosts over SSH at once, and see clearly what happened on every host.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _positive(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter("must be at least 1")
    return value


def _seconds(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise typer.BadParameter("must be more than 0 seconds")
    return value


def _keepalive(value: str) -> tuple[float, int]:
    """``--keepalive INTERVAL,COUNT`` (or ``0``/``off``) as (interval, count)."""
    if value.strip().lower() in ("0", "off"):
        return 0.0, 0
    try:
        interval_text, count_text = value.split(",")
        interval, count = float(interval_text), int(count_text)
    except ValueError:
        raise UsageError(
            f"--keepalive: expected INTERVAL,COUNT like 15,3 (or 0), not {value!r}"
        ) from None
    if interval <= 0 or count < 1:
        raise UsageError(f"--keepalive: INTERVAL must be > 0 and COUNT >= 1, not {value!r}")
    return interval, count


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _size(value: str) -> int:
    """``--max-output``: bytes, or with a K, M or G suffix (powers of 1024)."""
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        number = float(text[: len(text) - len(unit)])
    except ValueError:
        raise UsageError(
            f"--max-output: expected a size like 4M, 512K or 1048576, not {value!r}"
        ) from None
    if number < 0:
        raise UsageError(f"--max-output: must be 0 or more, not {value!r}")
    return int(number * _UNITS[unit])


def _print_version(value: bool) -> None:
    if value:
        print(f"hostops {__version__}")
        raise typer.Exit(0)


# Host selection and connection settings: the same options on every command.
InventoryOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--hosts",
        "-i",
        show_default=False,
        help="Inventory: a file (hostops YAML, Ansible YAML or INI), a directory of them or a dynamic inventory script; repeat for several, merged in order. [default: $HOSTOPS_INVENTORY, a comma-separated list]",
    ),
]
VaultPasswordFileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--vault-password-file",
        show_default=False,
        help="File holding the Ansible Vault password (an executable is run: its output is the password); repeatable. [default: $HOSTOPS_VAULT_PASSWORD_FILE]",
    ),
]
VaultIdOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--vault-id",
        show_default=False,
        help="An Ansible Vault password as [LABEL@]FILE; repeatable.",
    ),
]
HostListOpt = Annotated[
    str | None,
    typer.Option("--host", "-H", help="Hosts without an inventory: 'web[01-05],db1'."),
]
LimitOpt = Annotated[
    str | None,
    typer.Option(
        "--limit", "-l", help="Host pattern: 'web:&prod:!web03', 'web[01-05]', '~re', '@file'."
    ),
]
SshConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--ssh-config", help="ssh_config file to use [default: ~/.ssh/config, /etc/ssh/ssh_config]."
    ),
]
NoSshConfigOpt = Annotated[bool, typer.Option("--no-ssh-config", help="Read no ssh_config file.")]
UserOpt = Annotated[
    str | None, typer.Option("--user", "-u", help="Log in as this user on every host.")
]
PortOpt = Annotated[
    int | None,
    typer.Option("--port", "-p", min=1, max=65535, help="SSH port for every host."),
]
IdentityOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--identity", help="Private key file; repeat for several. Replaces the inventory's."
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]
FollowLinksOpt = Annotated[
    bool,
    typer.Option(
        "--follow-links",
        help="Follow symbolic links to directories (put) or any link (get), as rsync -L;"
        " without it they are skipped and reported.",
    ),
]
OutputOpt = Annotated[
    OutputMode,
    typer.Option(
        "--output",
        "-o",
        help="stream: lines as they arrive; gather: identical outputs folded; diff: the majority once, the others as diffs; json: one JSON object per host; quiet: the summary only.",
    ),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colours (also: NO_COLOR set).")]
RerunOpt = Annotated[
    str | None,
    typer.Option(
        "--rerun",
        help="Only hosts that ended with these statuses in the last run (or --from-run): 'failed' (all but ok and skipped) or a list like 'unreachable,timeout'.",
    ),
]
FromRunOpt = Annotated[
    str | None,
    typer.Option(
        "--from-run",
        help="The run --rerun looks at: an id from 'hostops history', a prefix of one, 'last' or 'last-N'. [default: last]",
    ),
]
JumpOpt = Annotated[
    str | None,
    typer.Option(
        "--jump",
        "-J",
        help="Jump host chain for every host, as ssh -J: '[user@]host[:port][,...]' ('none': no jump).",
    ),
]
KnownHostsOpt = Annotated[
    Path | None,
    typer.Option(
        "--known-hosts",
        help="known_hosts file for every host [default: inventory, else ~/.ssh/known_hosts]",
    ),
]


def _select(
    hosts: list[Path] | None,
    host_list: str | None,
    limit: str | None,
    ssh_config: Path | None,
    no_ssh_config: bool,
    user: str | None,
    port: int | None,
    identity: list[Path] | None,
    known_hosts: Path | None,
    rerun: str | None = None,
    from_run: str | None = None,
    jump: str | None = None,
    timing: Overrides | None = None,
    *,
    vault_files: list[Path] | None = None,
    vault_ids: list[str] | None = None,
    play_dir: str | None = None,
) -> tuple[Inventory, list[Host]]:
    """The inventory and the selected hosts, resolved with the connection flags given;
    with ``rerun``, only those that ended with those statuses in a recorded run.

    Raises UsageError or ConfigError."""
    if from_run is not None and rerun is None:
        raise UsageError("--from-run needs --rerun STATUSES (which of its hosts to run)")
    if host_list is not None and hosts:
        raise UsageError("give --hosts FILE or --host LIST, not both")
    if not hosts and host_list is None and os.environ.get("HOSTOPS_INVENTORY"):
        hosts = [Path(p.strip()) for p in os.environ["HOSTOPS_INVENTORY"].split(",") if p.strip()]
    if host_list is not None:
        raw = raw_from_host_list(host_list)
    elif hosts:
        raw = load_raw(
            hosts, vault=load_vault([str(f) for f in vault_files or ()], vault_ids or ())
        )
        if play_dir is not None:
            raw.play_dirs = [play_dir]
    else:
        raise UsageError("no hosts: give --hosts FILE (or set HOSTOPS_INVENTORY) or --host LIST")
    if ssh_config is not None and no_ssh_config:
        raise UsageError("give --ssh-config or --no-ssh-config, not both")
    config = SshConfig.chosen(False if no_ssh_config else ssh_config or True)
    inv = build(raw)
    base = os.path.dirname(os.fspath(hosts[0])) if hosts else "."
    names = select_names(inv, limit, base_dir=base or ".")
    differs = pattern_warning(inv, limit, names)
    if differs:
        raw.warnings.append(differs)
    if rerun is not None:
        names = _rerun_names(names, rerun, from_run)
    overrides = dataclasses.replace(
        timing or Overrides(),
        user=user,
        port=port,
        identity_files=tuple(str(p) for p in identity or ()),
        known_hosts=str(known_hosts) if known_hosts else None,
        jump=jump,
    )
    resolved = resolve_all(
        resolve_hosts(inv, names),
        ssh_config=config,
        overrides=overrides,
        inventory_host=lambda name: (
            resolve_hosts(inv, [name])[0] if name in inv.raw.hosts else None
        ),
    )
    return inv, resolved


def _rerun_names(selected: list[str], rerun: str, from_run: str | None) -> list[str]:
    """``selected`` narrowed to the hosts of a recorded run that ended with ``rerun``."""
    statuses = parse_statuses(rerun)
    path = find_run(from_run)
    if run_state(path) is RunState.IN_PROGRESS:  # named by id: its results are not all in
        raise UsageError(f"run {path.stem} is still in progress: --rerun needs a finished run")
    past = load_run(path)
    wanted = set(past.hosts_with(statuses))
    names = [n for n in selected if n in wanted]
    if not names:
        what = (
            f"no host with status {rerun}"
            if not wanted
            else "none of its hosts with status " + rerun
        )
        raise NothingToDo(f"run {past.id} has {what} among the selected hosts: nothing to run")
    return names


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run commands on many hosts over SSH at once, and see clearly what happened on every host."""


# The options of every command that reaches hosts (run, put, get, play): declared once.
HostKeyPolicyOpt = Annotated[
    HostKeyPolicy | None,
    typer.Option(
        "--host-key-policy",
        show_default=False,
        help="Unknown or changed host keys: strict refuses both, accept-new records unknown ones, off accepts anything. [default: strict, or ssh_config's StrictHostKeyChecking]",
    ),
]
NoAgentOpt = Annotated[
    bool, typer.Option("--no-agent", help="Do not use the SSH agent (SSH_AUTH_SOCK).")
]
AskPassOpt = Annotated[
    bool,
    typer.Option(
        "--ask-pass",
        help=f"Ask once for the login password, tried after the keys (else: ${ENV_PASSWORD}).",
    ),
]
AskKeyPassOpt = Annotated[
    bool,
    typer.Option(
        "--ask-key-pass",
        help=f"Ask once for the passphrase of encrypted private keys (else: ${ENV_KEY_PASSPHRASE}).",
    ),
]
SudoUserOpt = Annotated[
    str | None,
    typer.Option("--sudo-user", help="sudo as USER instead of root (implies --sudo)."),
]
AskSudoPassOpt = Annotated[
    bool,
    typer.Option(
        "--ask-sudo-pass",
        help=f"Ask once for the sudo password (implies --sudo; else: ${ENV_SUDO_PASSWORD}).",
    ),
]
ForksOpt = Annotated[
    int,
    typer.Option("--forks", "-f", callback=_positive, help="Hosts handled at once, in total."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        callback=_positive,
        show_default=False,
        help="Worker processes [default: CPU count].",
    ),
]
ConnectTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--connect-timeout",
        callback=_seconds,
        show_default=False,
        help="Seconds to connect and authenticate. [default: ssh_config's ConnectTimeout, else 10]",
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        "-t",
        callback=_seconds,
        show_default=False,
        help="Seconds a command (or transfer) may run; then it is killed and the host reported as timeout. [default: none]",
    ),
]
IdleTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--idle-timeout",
        callback=_seconds,
        show_default=False,
        help="Seconds a command may go without output; then it is killed and the host reported as timeout. [default: none]",
    ),
]
ConnectRetriesOpt = Annotated[
    int | None,
    typer.Option(
        "--connect-retries",
        min=0,
        show_default=False,
        help="Retries after a connection is refused, reset or times out (backoff with jitter; never after auth or host key failures). [default: ssh_config's ConnectionAttempts - 1, else 0]",
    ),
]
KeepaliveOpt = Annotated[
    str | None,
    typer.Option(
        "--keepalive",
        show_default=False,
        help="INTERVAL,COUNT: after INTERVAL s of silence ask the host for a reply; COUNT unanswered: error. 0 turns it off. [default: ssh_config's ServerAliveInterval,ServerAliveCountMax, else 15,3]",
    ),
]
LiveOpt = Annotated[
    bool,
    typer.Option("--live", help="gather/diff: redraw the view on the terminal as hosts finish."),
]
OutDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--out-dir",
        help="Also write each host's output to DIR/HOST.out, DIR/HOST.err and DIR/HOST.status, as it arrives.",
    ),
]
MaxOutputOpt = Annotated[
    str,
    typer.Option(
        "--max-output",
        help="Output kept in memory per host and stream (K, M, G suffixes); the rest is cut with a marker (--out-dir keeps all).",
    ),
]
NoRecordOpt = Annotated[bool, typer.Option("--no-record", help="Write no run record for this run.")]
BatchOpt = Annotated[
    str | None,
    typer.Option(
        "--batch",
        help="Rolling: N hosts (or P% of them) at a time; the next batch starts when one is done. [default: all at once]",
    ),
]
MaxFailOpt = Annotated[
    str | None,
    typer.Option(
        "--max-fail",
        help="With --batch: after a batch with more failed hosts than N (or P% of it), no further batch starts. [default: stop only when a whole batch failed]",
    ),
]


@dataclass(frozen=True)
class _Flags:
    """Every shared option's value, as the command received it."""

    hosts: list[Path] | None
    host_list: str | None
    limit: str | None
    user: str | None
    port: int | None
    identity: list[Path] | None
    known_hosts: Path | None
    jump: str | None
    ssh_config: Path | None
    no_ssh_config: bool
    host_key_policy: HostKeyPolicy | None
    no_agent: bool
    ask_pass: bool
    ask_key_pass: bool
    forks: int
    workers: int | None
    connect_timeout: float | None
    timeout: float | None
    idle_timeout: float | None
    connect_retries: int | None
    keepalive: str | None
    output: OutputMode
    live: bool
    out_dir: Path | None
    max_output: str
    rerun: str | None
    from_run: str | None
    no_record: bool
    no_color: bool
    debug: bool
    sudo: bool = False
    sudo_user: str | None = None
    ask_sudo_pass: bool = False
    vault_password_file: list[Path] | None = None
    vault_id: list[str] | None = None

    @classmethod
    def of(cls, values: dict[str, object]) -> "_Flags":
        """The shared options among a command's parameters (its ``locals()``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Prepared:
    """What every command that reaches hosts has made of its options."""

    inventory: Inventory
    hosts: list[Host]
    options: RunOptions
    view: ViewOptions
    secrets: Secrets


def _prepare(
    flags: _Flags, console: Console, run_sudo: bool, play_dir: str | None = None
) -> _Prepared:
    """Select the hosts, ask for secrets (before any worker exists, on the terminal,
    under the console lock), and build the run's options and view."""
    # Given on the command line, these beat the inventory's and ssh_config's (ConnectTimeout,
    # ServerAlive*, ConnectionAttempts); not given, those apply, else RunOptions' defaults.
    keepalive = _keepalive(flags.keepalive) if flags.keepalive is not None else None
    timing = Overrides(
        connect_timeout=flags.connect_timeout,
        server_alive=keepalive,
        connection_attempts=None if flags.connect_retries is None else flags.connect_retries + 1,
    )
    inv, selected = _select(
        flags.hosts,
        flags.host_list,
        flags.limit,
        flags.ssh_config,
        flags.no_ssh_config,
        flags.user,
        flags.port,
        flags.identity,
        flags.known_hosts,
        flags.rerun,
        flags.from_run,
        flags.jump,
        timing,
        vault_files=flags.vault_password_file,
        vault_ids=flags.vault_id,
        play_dir=play_dir,
    )
    for warning in inv.raw.warnings:
        console.message("warning", warning)
    ignored = ignored_options(selected)
    if ignored:
        console.message(
            "warning",
            'ssh_config options hostops ignores (README, "ssh_config"): ' + ", ".join(ignored),
        )
    secrets = secrets_from_environment(
        selected,
        password=console.ask_secret("SSH password", ENV_PASSWORD) if flags.ask_pass else None,
        key_passphrase=(
            console.ask_secret("Key passphrase", ENV_KEY_PASSPHRASE) if flags.ask_key_pass else None
        ),
        sudo_password=(
            console.ask_secret("sudo password", ENV_SUDO_PASSWORD) if flags.ask_sudo_pass else None
        ),
        vault=inv.raw.vault,
    )
    sudo = flags.sudo or flags.ask_sudo_pass or flags.sudo_user is not None
    options = RunOptions(
        workers=flags.workers,
        forks=flags.forks,
        timeout=flags.timeout,
        host_key_policy=flags.host_key_policy,
        use_agent=not flags.no_agent,
        idle_timeout=flags.idle_timeout,
        max_output=_size(flags.max_output),
        sudo=sudo and run_sudo,
        sudo_user=flags.sudo_user,
        debug=flags.debug,
    )
    if flags.host_key_policy is HostKeyPolicy.OFF:
        console.message(
            "warning",
            "--host-key-policy off: host keys are not verified; anyone on the path can impersonate a host",
        )
    if flags.out_dir is not None:
        _make_dir(flags.out_dir, "--out-dir")
    view = ViewOptions(
        mode=flags.output,
        color=False if flags.no_color else None,
        live=flags.live,
        out_dir=str(flags.out_dir) if flags.out_dir else None,
    )
    return _Prepared(inv, selected, options, view, secrets)


def _recorded(
    console: Console,
    flags: _Flags,
    what: str,
    prepared: _Prepared,
    go: Callable[[RecordPath | None], RunReport],
) -> int:
    """Run ``go`` with a run record (unless --no-record): its end line written whatever
    happens; returns the exit code."""
    journal = (
        None
        if flags.no_record
        else Journal.start(
            _argv,
            what,
            [h.name for h in prepared.hosts],
            prepared.options,
            warn=lambda text: console.message("warning", text),
        )
    )
    try:
        report = go(journal.record if journal else None)
    except BaseException as exc:
        if journal is not None:
            journal.finish(None, exit_code_for(exc), _one_line_error(exc))
        raise
    code = exit_code_for(report)
    if journal is not None:
        journal.finish(report, code)
        if report.failed:
            console.message(
                "note",
                f"run {journal.id} recorded: 'hostops show {journal.id}' shows it again,"
                f" '--rerun failed' runs the failed hosts again",
            )
    return code


def _execute(
    flags: _Flags,
    what: str,
    op: Callable[[], Operation],
    batch: str | None,
    max_fail: str | None,
    *,
    run_sudo: bool,
    stdin: bytes | None = None,
) -> None:
    """The body of run, put and get: ``op()`` on every selected host, in batches."""
    lock = console_lock()
    console = Console(lock, color=False if flags.no_color else None)
    if flags.debug:  # this process's library records too, under the lock from now on
        route_library_logs(partial(_debug_lines, console))

    def body() -> int:
        serial = _count(batch, "--batch")
        limit = _count(max_fail, "--max-fail", minimum=0)
        if limit is not None and serial is None:
            raise UsageError("--max-fail needs --batch (a failure limit per batch)")
        operation = op()
        prepared = _prepare(flags, console, run_sudo)
        return _recorded(
            console,
            flags,
            what,
            prepared,
            lambda record: run_operation(
                prepared.hosts,
                operation,
                prepared.options,
                prepared.view,
                lock,
                record,
                batch=serial,
                max_fail=limit,
                secrets=prepared.secrets,
                stdin=stdin,
            ),
        )

    raise typer.Exit(_guarded(console, body, flags.debug))


@app.command()
def run(
    command: Annotated[
        str,
        typer.Argument(
            metavar="COMMAND",
            help="Shell command to run on every host (by the remote login shell).",
        ),
    ],
    hosts: InventoryOpt = None,
    vault_password_file: VaultPasswordFileOpt = None,
    vault_id: VaultIdOpt = None,
    host_list: HostListOpt = None,
    limit: LimitOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    identity: IdentityOpt = None,
    known_hosts: KnownHostsOpt = None,
    jump: JumpOpt = None,
    ssh_config: SshConfigOpt = None,
    no_ssh_config: NoSshConfigOpt = False,
    host_key_policy: HostKeyPolicyOpt = None,
    no_agent: NoAgentOpt = False,
    ask_pass: AskPassOpt = False,
    ask_key_pass: AskKeyPassOpt = False,
    sudo: Annotated[
        bool, typer.Option("--sudo", help="Run the command with sudo (as root) on every host.")
    ] = False,
    sudo_user: SudoUserOpt = None,
    ask_sudo_pass: AskSudoPassOpt = False,
    no_stdin: Annotated[
        bool,
        typer.Option(
            "--no-stdin",
            help="Do not send hostops's standard input to the commands (sent when it is a file or a pipe).",
        ),
    ] = False,
    forks: ForksOpt = 64,
    workers: WorkersOpt = None,
    connect_timeout: ConnectTimeoutOpt = None,
    timeout: TimeoutOpt = None,
    idle_timeout: IdleTimeoutOpt = None,
    connect_retries: ConnectRetriesOpt = None,
    keepalive: KeepaliveOpt = None,
    batch: BatchOpt = None,
    max_fail: MaxFailOpt = None,
    output: OutputOpt = OutputMode.STREAM,
    live: LiveOpt = False,
    out_dir: OutDirOpt = None,
    max_output: MaxOutputOpt = "4M",
    rerun: RerunOpt = None,
    from_run: FromRunOpt = None,
    no_record: NoRecordOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run COMMAND on every selected host, in parallel."""
    flags = _Flags.of(locals())
    data = None if no_stdin else _forwarded_stdin()
    _execute(
        flags,
        command,
        lambda: Command(command, stdin=data is not None),
        batch,
        max_fail,
        run_sudo=True,
        stdin=data,
    )


@app.command()
def put(
    local: Annotated[
        Path, typer.Argument(metavar="LOCAL", help="Local file or directory to upload.")
    ],
    remote: Annotated[
        str,
        typer.Argument(
            metavar="REMOTE",
            help="Where on every host (a directory's tree is mirrored into it).",
        ),
    ],
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode", help="File mode to set, in octal: 0644. [default: kept, or umask's]"
        ),
    ] = None,
    hosts: InventoryOpt = None,
    vault_password_file: VaultPasswordFileOpt = None,
    vault_id: VaultIdOpt = None,
    host_list: HostListOpt = None,
    limit: LimitOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    identity: IdentityOpt = None,
    known_hosts: KnownHostsOpt = None,
    jump: JumpOpt = None,
    ssh_config: SshConfigOpt = None,
    no_ssh_config: NoSshConfigOpt = False,
    host_key_policy: HostKeyPolicyOpt = None,
    no_agent: NoAgentOpt = False,
    ask_pass: AskPassOpt = False,
    ask_key_pass: AskKeyPassOpt = False,
    sudo: Annotated[
        bool,
        typer.Option(
            "--sudo",
            help="Install as root: upload to a private temp file, then move it into place with sudo.",
        ),
    ] = False,
    sudo_user: SudoUserOpt = None,
    ask_sudo_pass: AskSudoPassOpt = False,
    follow_links: FollowLinksOpt = False,
    forks: ForksOpt = 64,
    workers: WorkersOpt = None,
    connect_timeout: ConnectTimeoutOpt = None,
    timeout: TimeoutOpt = None,
    idle_timeout: IdleTimeoutOpt = None,
    connect_retries: ConnectRetriesOpt = None,
    keepalive: KeepaliveOpt = None,
    batch: BatchOpt = None,
    max_fail: MaxFailOpt = None,
    output: OutputOpt = OutputMode.STREAM,
    live: LiveOpt = False,
    out_dir: OutDirOpt = None,
    max_output: MaxOutputOpt = "4M",
    rerun: RerunOpt = None,
    from_run: FromRunOpt = None,
    no_record: NoRecordOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Upload LOCAL to REMOTE on every selected host (SFTP): atomic replace, files whose
    content is already there are not written; a host is 'changed' when some file was."""
    flags = _Flags.of(locals())

    def upload() -> Upload:
        if not local.exists():
            raise UsageError(f"{local}: no such file or directory")
        with_sudo = sudo or ask_sudo_pass or sudo_user is not None
        return Upload(
            str(local.resolve()), remote, _mode(mode), with_sudo, follow_links=follow_links
        )

    _execute(flags, f"put {local} {remote}", upload, batch, max_fail, run_sudo=False)


@app.command()
def get(
    remote: Annotated[
        str, typer.Argument(metavar="REMOTE", help="Remote file or directory on every host.")
    ],
    local_dir: Annotated[
        Path,
        typer.Argument(
            metavar="LOCAL_DIR",
            help="Local directory: each host's copy goes to LOCAL_DIR/HOST/REMOTE.",
        ),
    ],
    hosts: InventoryOpt = None,
    vault_password_file: VaultPasswordFileOpt = None,
    vault_id: VaultIdOpt = None,
    host_list: HostListOpt = None,
    limit: LimitOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    identity: IdentityOpt = None,
    known_hosts: KnownHostsOpt = None,
    jump: JumpOpt = None,
    ssh_config: SshConfigOpt = None,
    no_ssh_config: NoSshConfigOpt = False,
    host_key_policy: HostKeyPolicyOpt = None,
    no_agent: NoAgentOpt = False,
    ask_pass: AskPassOpt = False,
    ask_key_pass: AskKeyPassOpt = False,
    follow_links: FollowLinksOpt = False,
    forks: ForksOpt = 64,
    workers: WorkersOpt = None,
    connect_timeout: ConnectTimeoutOpt = None,
    timeout: TimeoutOpt = None,
    idle_timeout: IdleTimeoutOpt = None,
    connect_retries: ConnectRetriesOpt = None,
    keepalive: KeepaliveOpt = None,
    output: OutputOpt = OutputMode.STREAM,
    live: LiveOpt = False,
    out_dir: OutDirOpt = None,
    max_output: MaxOutputOpt = "4M",
    rerun: RerunOpt = None,
    from_run: FromRunOpt = None,
    no_record: NoRecordOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Download REMOTE from every selected host into LOCAL_DIR/HOST/… (hosts never collide)."""
    flags = _Flags.of(locals())

    def download() -> Download:
        _make_dir(local_dir, "LOCAL_DIR")
        return Download(remote, str(local_dir.resolve()), follow_links=follow_links)

    _execute(flags, f"get {remote} {local_dir}", download, None, None, run_sudo=False)


@app.command()
def play(
    playbook: Annotated[
        Path, typer.Argument(metavar="PLAYBOOK", help="Playbook file (YAML: a list of plays).")
    ],
    check: Annotated[
        bool,
        typer.Option("--check", help="Show what each task would do on each host; run nothing."),
    ] = False,
    extra_vars: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-var",
            "-e",
            help="KEY=VALUE variable for every host (over play vars); repeat for several.",
        ),
    ] = None,
    hosts: InventoryOpt = None,
    vault_password_file: VaultPasswordFileOpt = None,
    vault_id: VaultIdOpt = None,
    host_list: HostListOpt = None,
    limit: LimitOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    identity: IdentityOpt = None,
    known_hosts: KnownHostsOpt = None,
    jump: JumpOpt = None,
    ssh_config: SshConfigOpt = None,
    no_ssh_config: NoSshConfigOpt = False,
    host_key_policy: HostKeyPolicyOpt = None,
    no_agent: NoAgentOpt = False,
    ask_pass: AskPassOpt = False,
    ask_key_pass: AskKeyPassOpt = False,
    sudo_user: SudoUserOpt = None,
    ask_sudo_pass: AskSudoPassOpt = False,
    forks: ForksOpt = 64,
    workers: WorkersOpt = None,
    connect_timeout: ConnectTimeoutOpt = None,
    timeout: TimeoutOpt = None,
    idle_timeout: IdleTimeoutOpt = None,
    connect_retries: ConnectRetriesOpt = None,
    keepalive: KeepaliveOpt = None,
    output: OutputOpt = OutputMode.STREAM,
    live: LiveOpt = False,
    out_dir: OutDirOpt = None,
    max_output: MaxOutputOpt = "4M",
    rerun: RerunOpt = None,
    from_run: FromRunOpt = None,
    no_record: NoRecordOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run PLAYBOOK's plays on the selected hosts: tasks in order, in batches, one
    connection per host for the whole playbook."""
    flags = _Flags.of(locals())
    lock = console_lock()
    console = Console(lock, color=False if no_color else None)

    def body() -> int:
        from hostops.playbook import check as check_plan  # Jinja2: only for playbooks
        from hostops.playbook import load_playbook, prepare

        book = load_playbook(playbook)
        given = _extra_vars(extra_vars or [])
        # group_vars/ and host_vars/ beside the playbook count too, as in Ansible.
        play_dir = os.path.dirname(os.path.abspath(playbook))
        prepared = _prepare(flags, console, run_sudo=False, play_dir=play_dir)
        everyone = resolve_hosts(prepared.inventory, prepared.inventory.names)
        allowed = {h.name for h in prepared.hosts}
        by_name = {h.name: h for h in prepared.hosts}
        # Resolved with the command line's settings where selected; the others only
        # serve to match the plays' patterns. Vaulted variables decrypt when a template
        # uses them (and only then need a password).
        vault = prepared.inventory.raw.vault or Vault()
        inventory = [with_vault(by_name.get(h.name, h), vault) for h in everyone]
        plan = prepare(book, inventory, limit=allowed, extra_vars=given)
        if check:
            lines = "".join(line + "\n" for line in check_plan(plan).lines())
            # what a vaulted value became: never shown
            console.out(mask(lines).encode(), plain=True)
            return 0

        def go(record: RecordPath | None) -> RunReport:
            # The recap comes before the summary: the aggregator leaves the summary to us.
            quiet = dataclasses.replace(prepared.view, summary=False)
            done = play_plan(plan, prepared.options, quiet, lock, record, prepared.secrets)
            if prepared.view.mode is not None:
                color = console.err_color
                text = recap_text(done.result, color) + summary_text(done.report, color)
                console.err(text.encode())
            return done.report

        code = _recorded(console, flags, f"play {playbook}", prepared, go)
        return code

    raise typer.Exit(_guarded(console, body, debug))


_STDIN_MAX = 64 << 20


def _forwarded_stdin() -> bytes | None:
    """hostops's standard input when it is a file or a pipe (``< fix.sh``, ``cat x |``):
    read whole, up to 64 MiB, before anything starts; None for a terminal or /dev/null."""
    try:
        st = os.fstat(0)
    except OSError:
        return None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
        return None
    data = sys.stdin.buffer.read(_STDIN_MAX + 1)
    if len(data) > _STDIN_MAX:
        raise UsageError(
            "standard input: more than 64 MiB to send to every host; copy it with 'hostops put' instead"
        )
    return data or None


def _count(value: str | None, option: str, minimum: int = 1) -> Count | None:
    if value is None:
        return None
    count = Count.parse(value, minimum)
    if count is None:
        raise UsageError(
            f"{option}: expected a number of hosts (at least {minimum}) or a percentage like 25%, not {value!r}"
        )
    return count


def _mode(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        mode = int(value, 8)
    except ValueError:
        raise UsageError(f"--mode: expected an octal mode like 0644, not {value!r}") from None
    if not 0 <= mode <= 0o7777:
        raise UsageError(f"--mode: expected an octal mode like 0644, not {value!r}")
    return mode


def _extra_vars(pairs: list[str]) -> dict[str, str]:
    given = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--extra-var: expected KEY=VALUE, not {pair!r}")
        given[key] = value
    return given


@app.command()
def inventory(
    hosts: InventoryOpt = None,
    vault_password_file: VaultPasswordFileOpt = None,
    vault_id: VaultIdOpt = None,
    host_list: HostListOpt = None,
    limit: LimitOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    identity: IdentityOpt = None,
    known_hosts: KnownHostsOpt = None,
    jump: JumpOpt = None,
    ssh_config: SshConfigOpt = None,
    no_ssh_config: NoSshConfigOpt = False,
    rerun: RerunOpt = None,
    from_run: FromRunOpt = None,
    graph: Annotated[bool, typer.Option("--graph", help="Show the group tree.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document, for scripts.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Show the selected hosts with their effective settings and groups (never a secret)."""
    console = Console()

    def body() -> int:
        if graph and as_json:
            raise UsageError("give --graph or --json, not both")
        inv, selected = _select(
            hosts,
            host_list,
            limit,
            ssh_config,
            no_ssh_config,
            user,
            port,
            identity,
            known_hosts,
            rerun,
            from_run,
            jump,
            vault_files=vault_password_file,
            vault_ids=vault_id,
        )
        if graph:
            text = inventory_graph(inv, [h.name for h in selected])
        elif as_json:
            text = inventory_json(inv, selected)
        else:
            text = inventory_table(selected)
        console.out(text.encode(), plain=True)
        for warning in inv.raw.warnings:
            console.message("warning", warning)
        return 0

    raise typer.Exit(_guarded(console, body, debug))


@app.command()
def history(
    last: Annotated[
        int, typer.Option("--last", "-n", callback=_positive, help="How many runs.")
    ] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON object per run (JSON Lines), for scripts.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """List recent runs, newest first (their records are in ~/.local/state/hostops/runs)."""
    console = Console()

    def body() -> int:
        runs = list(itertools.islice(iter_summaries(), last))
        console.out((history_json(runs) if as_json else history_text(runs)).encode(), plain=True)
        return 0

    raise typer.Exit(_guarded(console, body, debug))


@app.command()
def show(
    run_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[RUN]",
            help="An id from 'hostops history', a prefix of one, 'last' or 'last-N' (N runs before the last). [default: last]",
            show_default=False,
        ),
    ] = None,
    output: OutputOpt = OutputMode.STREAM,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show a recorded run again, in any view, with its summary."""
    console = Console(color=False if no_color else None)

    def body() -> int:
        past = load_run(find_run(run_id))
        names = list(past.header.get("hosts", [])) or [r.host for r in past.results]
        addresses = {r.host: r.address for r in past.results}
        hosts = [Host(n, addresses.get(n, n)) for n in names]
        view = ViewOptions(mode=output, color=False if no_color else None, progress=False)
        duration = float((past.end or {}).get("duration_s") or 0.0)
        interrupted = bool((past.end or {}).get("interrupted"))
        replay(hosts, past.results, duration, view, console, interrupted)
        return 0

    raise typer.Exit(_guarded(console, body, debug))


def _make_dir(path: Path, what: str) -> None:
    private_dir(path, what)  # 0700 when made; refused when another user could plant in it


def _one_line_error(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) if isinstance(exc, HostopsError) else f"internal error: {type(exc).__name__}"


def _guarded(console: Console, body: Callable[[], int], debug: bool) -> int:
    """Run a command body: hostops errors become one line on stderr and their exit code."""
    try:
        return body()
    except NothingToDo as exc:
        console.message("note", str(exc))
        return exit_code_for(exc)
    except HostopsError as exc:
        console.message("error", str(exc))
        if debug:
            traceback.print_exc()
        return exit_code_for(exc)
    except KeyboardInterrupt as exc:
        console.message("error", "interrupted")
        return exit_code_for(exc)


def _debug_lines(console: Console, host: str | None, text: str) -> None:
    """A library's log record (``--debug``), one ``hostops: debug:`` line per line."""
    for line in text.splitlines():
        console.message("debug", f"{host}: {line}" if host else line)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one-line errors, defined exit codes, no tracebacks by default."""
    args = sys.argv[1:] if argv is None else argv
    _argv[:] = args
    debug = "--debug" in args or bool(os.environ.get("HOSTOPS_DEBUG"))
    route_library_logs(partial(_debug_lines, Console()) if debug else None)
    command = typer.main.get_command(app)
    try:
        return int(command.main(args=args, prog_name="hostops", standalone_mode=False) or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        Console().message("error", "interrupted")
        return exit_code_for(KeyboardInterrupt())
    except _USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `hostops` alone: the help, as it is
            Console().err(exc.format_message().encode() + b"\n", plain=True)
            return EXIT_USAGE
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        Console().message("error", f"{exc.format_message()}{hint}")
        return EXIT_USAGE
    except _CLICK_EXCEPTION as exc:
        Console().message("error", exc.format_message())
        return exc.exit_code
    except Exception as exc:  # a bug in hostops: one line, the traceback only with --debug
        Console().message("error", f"internal error: {type(exc).__name__}: {exc}")
        if debug:
            traceback.print_exc()
        return exit_code_for(exc)
