"""Every command that reaches hosts takes the same shared options, declared once, with the
library's defaults."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import typer

from hostops.cli import app
from hostops.cli.options import (
    Auth,
    Display,
    Execution,
    HostSettings,
    Rerun,
    Rollout,
    SudoAs,
    Targets,
)
from hostops.cli.values import size
from hostops.models import RunOptions

SHARED = (Targets, HostSettings, Auth, Execution, Display, Rerun)
SINGLE = ("--no-record", "--no-color", "--debug")
REACHING_HOSTS = ("run", "put", "get", "play")


def _commands() -> dict[str, Any]:
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def _options(command: Any) -> dict[str, Any]:
    """A command's options by their long name."""
    return {p.opts[-1] if p.opts[-1].startswith("--") else p.opts[0]: p for p in command.params}


def _long_names(group: type) -> list[str]:
    names = []
    for f in dataclasses.fields(group):
        info = f.type.__metadata__[0]  # Annotated[type, typer.Option("--name", ...)]
        names.append(next(d for d in (info.default, *info.param_decls) if d.startswith("--")))
    return names


def _declared(p: Any) -> tuple[object, ...]:
    """What --help shows of an option, and how it parses."""
    return (p.opts, p.secondary_opts, p.help, p.default, p.envvar, p.type.name, p.multiple)


@pytest.mark.parametrize("name", REACHING_HOSTS)
def test_every_command_reaching_hosts_has_every_shared_option(name: str) -> None:
    commands = _commands()
    reference = _options(commands["run"])
    mine = _options(commands[name])
    for flag in [n for g in SHARED for n in _long_names(g)] + list(SINGLE):
        assert flag in mine, f"hostops {name} lacks {flag}"
        assert _declared(mine[flag]) == _declared(reference[flag])


def test_groups_only_some_commands_take() -> None:
    commands = {name: _options(c) for name, c in _commands().items()}
    for flag in _long_names(SudoAs):
        assert [n for n in REACHING_HOSTS if flag in commands[n]] == ["run", "put", "play"]
    for flag in _long_names(Rollout):
        assert [n for n in REACHING_HOSTS if flag in commands[n]] == ["run", "put"]
    for flag in _long_names(Targets) + _long_names(HostSettings) + _long_names(Rerun):
        assert flag in commands["inventory"]
    assert "--forks" not in commands["inventory"]


def test_defaults_are_the_librarys() -> None:
    """No default is written twice: the command line's are RunOptions'."""
    options = _options(_commands()["run"])
    library = RunOptions()
    assert options["--forks"].default == library.forks
    assert options["--workers"].default == library.workers
    assert options["--timeout"].default == library.timeout
    assert options["--idle-timeout"].default == library.idle_timeout
    assert options["--host-key-policy"].default == library.host_key_policy
    assert options["--no-agent"].default is (not library.use_agent)
    assert options["--sudo-user"].default == library.sudo_user
    assert size(options["--max-output"].default) == library.max_output
    # Not given, ssh_config's setting applies, else the library's: which --help says.
    for flag, default in (
        ("--connect-timeout", f"else {library.connect_timeout:g}]"),
        ("--connect-retries", f"else {library.connect_retries}]"),
        ("--keepalive", f"else {library.keepalive_interval:g},{library.keepalive_count}]"),
    ):
        assert options[flag].default is None
        assert options[flag].help.endswith(default), flag
