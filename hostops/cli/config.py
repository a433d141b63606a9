"""``hostops config [COMMAND [OPTION...]]``: every setting of the configuration file's
keys as a command would use it, and where it came from.

The command's options are parsed by click exactly as for a run (without running
anything) and each option's source is click's own record of it: the command line, the
environment (an ``envvar=``), the default map (the configuration file), or the
declared default; an environment variable hostops reads itself when the option is not
given (``$HOSTOPS_INVENTORY``...) is looked at where click saw the default.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

import json
import os
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer

from hostops.cli.configured import KEYS, Configured, Key, load, shown
from hostops.cli.edge import guarded
from hostops.cli.options import DebugOpt
from hostops.errors import UsageError
from hostops.render.console import Console
from hostops.userconfig import ENV, location


@dataclass(frozen=True)
class Row:
    """One setting: its key, its value as the key would say it, and where it came from."""

    key: str
    value: str
    source: str


def config(
    ctx: typer.Context,
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[COMMAND [OPTION...]]",
            help="The command line to look at, as you would type it after 'hostops' (its options count; nothing runs). [default: each setting for the first command that takes it]",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON object per setting (JSON Lines), for scripts.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Show every setting of the configuration file's keys and where it came from: the
    command line, the environment, the file (FILE:LINE) or built-in."""
    console = Console()
    from hostops.cli.commands import click_command  # which registers this command

    root = click_command()  # every command (this process may have built only this one)

    def body() -> int:
        configured = load(root, os.environ)  # every key checked against every command
        rows = settings(root, configured, list(words or ()))
        if as_json:
            text = "".join(json.dumps(asdict(r)) + "\n" for r in rows)
        else:
            text = _file_line(configured) + _table(rows)
        console.out(text.encode(), plain=True)
        return 0

    raise typer.Exit(guarded(console, body, debug))


def settings(root: Any, configured: Configured, words: list[str]) -> list[Row]:
    """Each key's setting for the command line ``words`` (every key, each for the first
    command taking it, when ``words`` is empty). Raises UsageError for an unknown
    command or option."""
    commands: dict[str, Any] = dict(root.commands)
    if words and words[0] not in commands:
        raise UsageError(f"config: no command {words[0]!r} (see 'hostops --help')")
    if words:
        _known_options(commands[words[0]], words)
    contexts: dict[str, Any] = {}

    def parsed(name: str) -> Any:
        if name not in contexts:
            args = words[1:] if words else []
            contexts[name] = commands[name].make_context(
                f"hostops {name}",
                args,
                default_map=configured.default_map.get(name),
                resilient_parsing=True,  # no callbacks, no errors, nothing run
            )
        return contexts[name]

    rows = []
    for key, spec in KEYS.items():
        takers = [n for n, c in commands.items() if any(p.name == spec.param for p in c.params)]
        chosen = words[0] if words else (takers[0] if takers else None)
        if chosen in takers:
            rows.append(_row(key, spec, parsed(chosen), configured))
    return rows


def _known_options(command: Any, words: list[str]) -> None:
    """Every option in ``words`` (COMMAND, then its arguments) is one of COMMAND's: the
    lenient parse that reads them (no callbacks, no required argument) would stop at
    an unknown one without a word. Raises UsageError."""
    known = {"-h", "--help"}
    for param in command.params:
        known.update(param.opts, param.secondary_opts)
    for word in words[1:]:
        if word == "--":
            return
        name = word.split("=", 1)[0]
        if name.startswith("-") and not name.startswith("--"):
            name = name[:2]  # -nt: -n, then -t
        if word.startswith("-") and word != "-" and name not in known:
            raise UsageError(f"config: hostops {words[0]} has no option {name!r}")


def _row(key: str, spec: Key, ctx: Any, configured: Configured) -> Row:
    param = next(p for p in ctx.command.params if p.name == spec.param)
    source = ctx.get_parameter_source(spec.param)
    value = ctx.params.get(spec.param)
    kind = source.name if source is not None else "DEFAULT"
    if kind == "COMMANDLINE":
        return Row(key, shown(value, spec), "command line")
    if kind == "ENVIRONMENT":
        return Row(key, shown(value, spec), f"environment {param.envvar}")
    if kind == "DEFAULT_MAP" and configured.file is not None:
        return Row(key, shown(value, spec), configured.file.where(key))
    if spec.param == "hosts" and ctx.params.get("host_list"):
        return Row(key, "-", "command line (--host: no inventory)")
    if spec.env and os.environ.get(spec.env):
        text = "false" if spec.env == "NO_COLOR" else os.environ[spec.env]
        return Row(key, text, f"environment {spec.env}")
    return Row(key, shown(value, spec), "built-in")


def _file_line(configured: Configured) -> str:
    if configured.file is not None:
        return f"configuration file: {configured.file.path}\n"
    path = location(os.environ)
    if path is None:
        return f"configuration file: none (${ENV} is empty)\n"
    return f"configuration file: none ({path} does not exist)\n"


def _table(rows: list[Row]) -> str:
    table = [("setting", "value", "from"), *((r.key, r.value, r.source) for r in rows)]
    width = [max(len(line[i]) for line in table) for i in (0, 1)]
    return "".join(f"{k:<{width[0]}}  {v:<{width[1]}}  {s}\n" for k, v, s in table)
