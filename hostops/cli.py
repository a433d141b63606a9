"""The command line: options in, one library call, an exit code out. The only typer user."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from hostops import __version__
from hostops.console import Console, OutputMode, ViewOptions
from hostops.credentials import (
    ENV_KEY_PASSPHRASE,
    ENV_PASSWORD,
    ENV_SUDO_PASSWORD,
    secrets_from_environment,
)
from hostops.engine import console_lock
from hostops.engine import run as run_engine
from hostops.errors import EXIT_USAGE, HostopsError, UsageError, exit_code_for
from hostops.inventory import (
    Inventory,
    Overrides,
    build,
    load_raw,
    raw_from_host_list,
    resolve_hosts,
    select_names,
)
from hostops.inventory.show import inventory_graph, inventory_json, inventory_table
from hostops.models import Host, HostKeyPolicy, RunOptions
from hostops.transport.ssh_config import SshConfig

# typer raises click's exception classes (vendored in recent typer): find them through
# a public one rather than importing a click that may not be the one typer uses.
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

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


def _print_version(value: bool) -> None:
    if value:
        print(f"hostops {__version__}")
        raise typer.Exit(0)


# Host selection and connection settings: the same options on every command.
InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--hosts",
        "-i",
        envvar="HOSTOPS_INVENTORY",
        show_default=False,
        help="Inventory file: hostops YAML, Ansible YAML or Ansible INI.",
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
    hosts: Path | None,
    host_list: str | None,
    limit: str | None,
    ssh_config: Path | None,
    no_ssh_config: bool,
    user: str | None,
    port: int | None,
    identity: list[Path] | None,
    known_hosts: Path | None,
    jump: str | None = None,
) -> tuple[Inventory, list[Host]]:
    """The inventory and the selected hosts, resolved with the connection flags given.

    Raises UsageError or ConfigError."""
    if host_list is not None and hosts is not None and "HOSTOPS_INVENTORY" not in os.environ:
        raise UsageError("give --hosts FILE or --host LIST, not both")
    if host_list is not None:
        raw = raw_from_host_list(host_list)
    elif hosts is not None:
        raw = load_raw(hosts)
    else:
        raise UsageError("no hosts: give --hosts FILE (or set HOSTOPS_INVENTORY) or --host LIST")
    if ssh_config is not None and no_ssh_config:
        raise UsageError("give --ssh-config or --no-ssh-config, not both")
    config = (
        None
        if no_ssh_config
        else SshConfig.from_file(str(ssh_config))
        if ssh_config
        else SshConfig.default()
    )
    inv = build(raw)
    base = os.path.dirname(os.fspath(hosts)) if hosts else "."
    names = select_names(inv, limit, base_dir=base or ".")
    overrides = Overrides(
        user=user,
        port=port,
        identity_files=tuple(str(p) for p in identity or ()),
        known_hosts=str(known_hosts) if known_hosts else None,
        jump=jump,
    )
    return inv, resolve_hosts(inv, names, ssh_config=config, overrides=overrides)


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


@app.command()
def run(
    command: Annotated[
        str, typer.Argument(help="Shell command to run on every host (by the remote login shell).")
    ],
    hosts: InventoryOpt = None,
    host_list: HostListOpt = None,
    limit: LimitOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    identity: IdentityOpt = None,
    known_hosts: KnownHostsOpt = None,
    jump: JumpOpt = None,
    ssh_config: SshConfigOpt = None,
    no_ssh_config: NoSshConfigOpt = False,
    host_key_policy: Annotated[
        HostKeyPolicy | None,
        typer.Option(
            "--host-key-policy",
            show_default=False,
            help="Unknown or changed host keys: strict refuses both, accept-new records unknown ones, off accepts anything. [default: strict, or ssh_config's StrictHostKeyChecking]",
        ),
    ] = None,
    no_agent: Annotated[
        bool, typer.Option("--no-agent", help="Do not use the SSH agent (SSH_AUTH_SOCK).")
    ] = False,
    ask_pass: Annotated[
        bool,
        typer.Option(
            "--ask-pass",
            help=f"Ask once for the login password, tried after the keys (else: ${ENV_PASSWORD}).",
        ),
    ] = False,
    ask_key_pass: Annotated[
        bool,
        typer.Option(
            "--ask-key-pass",
            help=f"Ask once for the passphrase of encrypted private keys (else: ${ENV_KEY_PASSPHRASE}).",
        ),
    ] = False,
    sudo: Annotated[
        bool, typer.Option("--sudo", help="Run the command with sudo (as root) on every host.")
    ] = False,
    sudo_user: Annotated[
        str | None,
        typer.Option("--sudo-user", help="Run the command with sudo as USER (implies --sudo)."),
    ] = None,
    ask_sudo_pass: Annotated[
        bool,
        typer.Option(
            "--ask-sudo-pass",
            help=f"Ask once for the sudo password (implies --sudo; else: ${ENV_SUDO_PASSWORD}).",
        ),
    ] = False,
    forks: Annotated[
        int,
        typer.Option("--forks", "-f", callback=_positive, help="Hosts handled at once, in total."),
    ] = 64,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            callback=_positive,
            show_default=False,
            help="Worker processes [default: CPU count].",
        ),
    ] = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout", callback=_seconds, help="Seconds to connect and authenticate."
        ),
    ] = 10.0,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            "-t",
            callback=_seconds,
            show_default=False,
            help="Seconds the command may run; then it is killed and the host reported as timeout. [default: none]",
        ),
    ] = None,
    idle_timeout: Annotated[
        float | None,
        typer.Option(
            "--idle-timeout",
            callback=_seconds,
            show_default=False,
            help="Seconds a command may go without output; then it is killed and the host reported as timeout. [default: none]",
        ),
    ] = None,
    connect_retries: Annotated[
        int,
        typer.Option(
            "--connect-retries",
            min=0,
            help="Retries after a connection is refused, reset or times out (backoff with jitter; never after auth or host key failures).",
        ),
    ] = 0,
    keepalive: Annotated[
        str,
        typer.Option(
            "--keepalive",
            help="INTERVAL,COUNT: after INTERVAL s of silence ask the host for a reply; COUNT unanswered: error. 0 turns it off.",
        ),
    ] = "15,3",
    output: Annotated[
        OutputMode,
        typer.Option(
            "--output", "-o", help="stream: lines as they arrive; json: one JSON object per host."
        ),
    ] = OutputMode.STREAM,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (also: NO_COLOR set).")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Run COMMAND on every selected host, in parallel."""
    lock = console_lock()
    console = Console(lock, color=False if no_color else None)

    def body() -> int:
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
            jump,
        )
        for warning in inv.raw.warnings:
            console.message("warning", warning)
        interval, count = _keepalive(keepalive)
        # Every prompt before any worker exists, on the terminal, under the console lock.
        secrets = secrets_from_environment(
            selected,
            password=console.ask_secret("SSH password", ENV_PASSWORD) if ask_pass else None,
            key_passphrase=(
                console.ask_secret("Key passphrase", ENV_KEY_PASSPHRASE) if ask_key_pass else None
            ),
            sudo_password=(
                console.ask_secret("sudo password", ENV_SUDO_PASSWORD) if ask_sudo_pass else None
            ),
        )
        options = RunOptions(
            workers=workers,
            forks=forks,
            connect_timeout=connect_timeout,
            timeout=timeout,
            host_key_policy=host_key_policy,
            use_agent=not no_agent,
            idle_timeout=idle_timeout,
            connect_retries=connect_retries,
            keepalive_interval=interval,
            keepalive_count=count,
            sudo=sudo or ask_sudo_pass or sudo_user is not None,
            sudo_user=sudo_user,
        )
        if host_key_policy is HostKeyPolicy.OFF:
            console.message(
                "warning",
                "--host-key-policy off: host keys are not verified; anyone on the path can impersonate a host",
            )
        view = ViewOptions(mode=output, color=False if no_color else None)
        return exit_code_for(run_engine(selected, command, options, view, lock, secrets))

    raise typer.Exit(_guarded(console, body, debug))


@app.command()
def inventory(
    hosts: InventoryOpt = None,
    host_list: HostListOpt = None,
    limit: LimitOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    identity: IdentityOpt = None,
    known_hosts: KnownHostsOpt = None,
    jump: JumpOpt = None,
    ssh_config: SshConfigOpt = None,
    no_ssh_config: NoSshConfigOpt = False,
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
            jump,
        )
        if graph:
            text = inventory_graph(inv, [h.name for h in selected])
        elif as_json:
            text = inventory_json(inv, selected)
        else:
            text = inventory_table(selected)
        console.out(text.encode())
        for warning in inv.raw.warnings:
            console.message("warning", warning)
        return 0

    raise typer.Exit(_guarded(console, body, debug))


def _guarded(console: Console, body: Callable[[], int], debug: bool) -> int:
    """Run a command body: hostops errors become one line on stderr and their exit code."""
    try:
        return body()
    except HostopsError as exc:
        console.message("error", str(exc))
        if debug:
            traceback.print_exc()
        return exit_code_for(exc)
    except KeyboardInterrupt as exc:
        console.message("error", "interrupted")
        return exit_code_for(exc)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one-line errors, defined exit codes, no tracebacks by default."""
    args = sys.argv[1:] if argv is None else argv
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
            Console().err(exc.format_message().encode() + b"\n")
            return EXIT_USAGE
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        Console().message("error", f"{exc.format_message()}{hint}")
        return EXIT_USAGE
    except _CLICK_EXCEPTION as exc:
        Console().message("error", exc.format_message())
        return exc.exit_code
    except Exception as exc:  # a bug in hostops: one line, the traceback only with --debug
        Console().message("error", f"internal error: {type(exc).__name__}: {exc}")
        if "--debug" in args or os.environ.get("HOSTOPS_DEBUG"):
            traceback.print_exc()
        return exit_code_for(exc)
