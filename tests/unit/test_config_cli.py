"""The configuration file through the real command line: command line > environment >
file > built-in for every kind of option, ``hostops config``'s provenance, and errors
that name FILE:LINE with a did-you-mean."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from hostops.cli import main
from hostops.cli.commands import click_command
from hostops.cli.configured import KEYS, shown
from hostops.models import RunOptions

INVENTORY = "hosts:\n  web1: {connection: local}\n  web2: {connection: local}\n"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("HOSTOPS_CONFIG", str(path))
    return path


def _settings(capfd: pytest.CaptureFixture[str], *words: str) -> dict[str, tuple[str, str]]:
    """``hostops config --json WORDS``: key -> (value, from)."""
    assert main(["config", "--json", *words]) == 0
    rows = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    return {r["key"]: (r["value"], r["source"]) for r in rows}


def _error(capfd: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize(
    ("given", "env", "in_file"), list(itertools.product((False, True), repeat=3))
)
def test_persist_command_line_then_environment_then_file_then_built_in(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    given: bool,
    env: bool,
    in_file: bool,
) -> None:
    """--persist: an option click reads an environment variable for (HOSTOPS_PERSIST)."""
    config.write_text('forks = 5\npersist = "10m"\n' if in_file else "forks = 5\n")
    if env:
        monkeypatch.setenv("HOSTOPS_PERSIST", "20m")
    words = ["run", "--persist", "30m"] if given else ["run"]
    expected = (
        ("30m", "command line")
        if given
        else ("20m", "environment HOSTOPS_PERSIST")
        if env
        else ("10m", f"{config}:2")
        if in_file
        else ("-", "built-in")
    )
    assert _settings(capfd, *words)["persist"] == expected


@pytest.mark.parametrize(
    ("given", "env", "in_file"), list(itertools.product((False, True), repeat=3))
)
def test_inventory_command_line_then_environment_then_file_then_built_in(
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    given: bool,
    env: bool,
    in_file: bool,
) -> None:
    """--hosts: an option whose environment variable hostops reads itself
    (HOSTOPS_INVENTORY), and whose relative path in the file is the file's."""
    for name in ("cli", "env", "file"):
        (tmp_path / f"{name}.yaml").write_text(INVENTORY.replace("web", name))
    config.write_text('inventory = "file.yaml"\n' if in_file else "")
    if env:
        monkeypatch.setenv("HOSTOPS_INVENTORY", str(tmp_path / "env.yaml"))
    words = ["inventory", "-i", str(tmp_path / "cli.yaml")] if given else ["inventory"]
    expected = (
        (str(tmp_path / "cli.yaml"), "command line")
        if given
        else (str(tmp_path / "env.yaml"), "environment HOSTOPS_INVENTORY")
        if env
        else (str(tmp_path / "file.yaml"), f"{config}:1")
        if in_file
        else ("-", "built-in")
    )
    assert _settings(capfd, *words)["inventory"] == expected
    # and the command itself uses that one
    code = main(words[:1] + words[1:])
    out = capfd.readouterr().out
    if expected[1] == "built-in":
        assert code == 2
    else:
        assert code == 0
        winner = "cli" if given else "env" if env else "file"
        assert f"2 hosts: {winner}[1-2]" in out


@pytest.mark.parametrize(("given", "in_file"), list(itertools.product((False, True), repeat=2)))
def test_forks_and_policy_command_line_then_file_then_built_in(
    config: Path, capfd: pytest.CaptureFixture[str], given: bool, in_file: bool
) -> None:
    config.write_text('forks = 7\nhost-key-policy = "accept-new"\n' if in_file else "")
    words = ["put", "-f", "3", "--host-key-policy", "off"] if given else ["put"]
    got = _settings(capfd, *words)
    if given:
        assert got["forks"] == ("3", "command line")
        assert got["host-key-policy"] == ("off", "command line")
    elif in_file:
        assert got["forks"] == ("7", f"{config}:1")
        assert got["host-key-policy"] == ("accept-new", f"{config}:2")
    else:
        assert got["forks"] == (shown(RunOptions().forks, KEYS["forks"]), "built-in")
        assert got["host-key-policy"] == ("-", "built-in")


@pytest.mark.parametrize(("env", "in_file"), list(itertools.product((False, True), repeat=2)))
def test_colour_environment_then_file(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    env: bool,
    in_file: bool,
) -> None:
    config.write_text("color = false\n" if in_file else "")
    if env:
        monkeypatch.setenv("NO_COLOR", "1")
    got = _settings(capfd, "show")["color"]
    assert got == (
        ("false", "environment NO_COLOR")
        if env
        else ("false", f"{config}:1")
        if in_file
        else ("true", "built-in")
    )
    assert _settings(capfd, "show", "--no-color")["color"] == ("false", "command line")


def test_config_alone_shows_every_key_once_with_the_file(
    config: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config.write_text('# mine\ntimeout = 30\ncluster = "tls://sched:8786"\n')
    assert main(["config"]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0] == f"configuration file: {config}"
    assert lines[1].split() == ["setting", "value", "from"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["timeout"] == ["30", f"{config}:2"]
    assert rows["cluster"] == ["tls://sched:8786", f"{config}:3"]  # only `cluster` takes it
    assert rows["agent"] == ["true", "built-in"]
    assert len(lines) - 2 == len(rows)


def test_no_file_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["config"]) == 0
    first = capfd.readouterr().out.splitlines()[0]
    assert first == f"configuration file: none ({tmp_path}/hostops/config.toml does not exist)"


def test_config_refuses_what_the_command_would(config: Path, capfd) -> None:
    config.write_text("")
    assert _error(capfd, "config", "run", "--bogus", "-f", "3") == (
        "hostops: error: config: hostops run has no option '--bogus'"
    )
    assert _error(capfd, "config", "nope") == (
        "hostops: error: config: no command 'nope' (see 'hostops --help')"
    )
    assert _settings(capfd, "run", "-nt", "--forks=4", "--", "-x")["forks"] == ("4", "command line")


def test_host_list_takes_no_inventory_from_the_file(
    config: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    config.write_text('inventory = "inv.yaml"\n')
    assert main(["inventory", "-H", "db[1-3]"]) == 0
    assert "3 hosts: db[1-3]" in capfd.readouterr().out
    assert _settings(capfd, "inventory", "-H", "x")["inventory"] == (
        "-",
        "command line (--host: no inventory)",
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("forks = 5\nforsk = 3\n", 2, "unknown setting 'forsk' (did you mean 'forks'?)"),
        (
            "host_key_policy = 'off'\n",
            1,
            "unknown setting 'host_key_policy' (did you mean 'host-key-policy'?)",
        ),
        (
            "\nhost-key-policy = 'stric'\n",
            2,
            "host-key-policy: 'stric' is not one of 'strict', 'accept-new', 'off'. (did you mean 'strict'?)",
        ),
        ("output = 'gahter'\n", 1, "(did you mean 'gather'?)"),
        ("forks = 0\n", 1, "forks: must be at least 1"),
        ("forks = 'ten'\n", 1, "forks: expected a whole number, not 'ten'"),
        ("forks = true\n", 1, "forks: expected a whole number, not True"),
        ("timeout = -1\n", 1, "timeout: must be more than 0 seconds"),
        ("timeout = nan\n", 1, "timeout: must be more than 0 seconds"),
        ("port = 70000\n", 1, "port: 70000 is not in the range 1<=x<=65535."),
        ("persist = 'soon'\n", 1, "persist: 'soon' is not a duration"),
        ("keepalive = '15'\n", 1, "keepalive: expected INTERVAL,COUNT like 15,3 (or 0), not '15'"),
        ("max-output = 'lots'\n", 1, "max-output: expected a size like 4M"),
        ("agent = 'no'\n", 1, "agent: expected true or false, not 'no'"),
        ("inventory = ['a.yaml', 3]\n", 1, "inventory: expected text (or a list of them)"),
        ('sudo_password = "x"\n', 1, "sudo_password: no secrets in the configuration file"),
    ],
)
def test_a_bad_key_or_value_is_file_line_and_exit_2(
    config: Path, capfd: pytest.CaptureFixture[str], text: str, line: int, message: str
) -> None:
    config.write_text(text)
    for args in (["config"], ["history"]):  # every command, before anything runs
        err = _error(capfd, *args)
        assert err.startswith(f"hostops: error: {config}:{line}: "), err
        assert message in err


def test_a_value_no_built_command_takes_is_checked_by_config(
    config: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config.write_text("forks = 0\n")
    assert f"{config}:1: forks: must be at least 1" in _error(capfd, "config")


def test_help_is_unchanged_without_a_file(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOSTOPS_CONFIG", "")
    command = click_command()  # what main parses with
    for name in [*command.commands, None]:  # type: ignore[attr-defined]
        args = [name, "--help"] if name else ["--help"]
        assert main(args) == 0
        through_main = capfd.readouterr().out
        with pytest.raises(SystemExit):
            command.main(args=args, prog_name="hostops")  # click alone: no default map
        assert through_main == capfd.readouterr().out, name


def test_help_shows_the_files_defaults(config: Path, capfd: pytest.CaptureFixture[str]) -> None:
    config.write_text("lock-timeout = 7\n")
    assert main(["run", "--help"]) == 0
    assert "fail at once. [default: 7; x>=0]" in " ".join(capfd.readouterr().out.split())
