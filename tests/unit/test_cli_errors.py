"""Library errors name the API's parameters; the command line names its options instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostops import ConfigError, Host, RunOptions, UsageError, run
from hostops.cli import main
from hostops.journal import parse_statuses
from hostops.models import Transport
from hostops.operations import Download, Upload

LOCAL = "hosts:\n  loc1:\n    connection: local\n  loc2:\n    connection: local\n"


@pytest.fixture(autouse=True)
def _records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _error(capfd: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_the_library_says_sudo_the_cli_says_sudo_flag(tmp_path, capfd) -> None:
    hosts = [Host(n, n, connection=Transport.LOCAL) for n in ("loc1", "loc2")]
    with pytest.raises(ConfigError) as caught:
        run(hosts, "true", options=RunOptions(sudo=True))
    assert str(caught.value).startswith("sudo is not supported for connection: local hosts")
    assert caught.value.argument == "sudo"
    inventory = tmp_path / "local.yaml"
    inventory.write_text(LOCAL)
    err = _error(capfd, "run", "true", "--sudo", "--hosts", str(inventory), "--no-ssh-config")
    assert err == (
        "hostops: error: --sudo is not supported for connection: local hosts (loc[1-2]);"
        " nothing ran\n"
    )


def test_the_library_says_statuses_the_cli_says_rerun(capfd) -> None:
    with pytest.raises(UsageError, match=r"^statuses: unknown status 'bogus'") as caught:
        parse_statuses("failed,bogus")
    assert caught.value.argument == "statuses"
    err = _error(capfd, "run", "true", "-H", "web1", "--no-ssh-config", "--rerun", "bogus")
    assert err.startswith("hostops: error: --rerun: unknown status 'bogus' (use failed or any")


def test_the_cli_says_limit_and_host(capfd) -> None:
    err = _error(capfd, "run", "true", "-H", "web1", "--no-ssh-config", "--limit", "x[")
    assert err == "hostops: error: --limit: pattern 'x[': unbalanced brackets in 'x['\n"
    err = _error(capfd, "inventory", "-H", "web[", "--no-ssh-config")
    assert err == "hostops: error: --host: unbalanced brackets in 'web['\n"


@pytest.mark.parametrize("command", ["", "  \t"])
def test_an_empty_command_is_refused_never_a_silent_success(capfd, command: str) -> None:
    """`hostops run "$CMD"` with CMD unset: a login shell given nothing runs nothing and
    says 0 on every host; refused, as a playbook's empty `run:` is, before anything runs."""
    hosts = [Host("loc1", "loc1", connection=Transport.LOCAL)]
    with pytest.raises(UsageError, match=r"^command is empty") as caught:
        run(hosts, command)
    assert caught.value.argument == "command"
    err = _error(capfd, "run", command, "-H", "web1", "--no-ssh-config")
    assert err.startswith("hostops: error: COMMAND is empty: nothing to run")


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_remote_path_is_refused_before_anything(tmp_path, capfd, blank: str) -> None:
    """`put FILE "$DEST"` / `get "$SRC" DIR` with the variable unset would name the login
    user's home: a put writing into it, a get copying all of it (a whole home directory
    downloaded from every host). Refused, and LOCAL_DIR is not even made."""
    with pytest.raises(UsageError, match=r"^the remote path is empty") as caught:
        Upload("/etc/hosts", blank)
    assert caught.value.argument == "dest"
    with pytest.raises(UsageError, match=r"^the remote path is empty") as caught:
        Download(blank, "/tmp")
    assert caught.value.argument == "src"
    local = tmp_path / "f.txt"
    local.write_text("x")
    err = _error(capfd, "put", str(local), blank, "-H", "web1", "--no-ssh-config")
    assert err.startswith("hostops: error: the remote path is empty: name it ('.' for")
    got = tmp_path / "got"
    err = _error(capfd, "get", blank, str(got), "-H", "web1", "--no-ssh-config")
    assert err.startswith("hostops: error: the remote path is empty")
    assert not got.exists()
