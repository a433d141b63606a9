"""--debug shows tracebacks of hostops's own failures, never the secrets in scope."""

from __future__ import annotations

import pytest
from pytest_mock import MockerFixture

import hostops.cli.records
import hostops.fleet.rollout
from hostops.cli import main

SECRET = "s3 cr'et\"$HOME"


def test_debug_traceback_shows_no_local_values(
    mocker: MockerFixture, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while the secrets are local variables of the failing frames: the traceback
    names the frames, not what they hold."""
    monkeypatch.setenv("HOSTOPS_PASSWORD", SECRET)
    monkeypatch.setenv("HOSTOPS_SUDO_PASSWORD", SECRET)

    def broken(hosts, op, **kw):  # type: ignore[no-untyped-def]
        secrets = kw["secrets"]
        assert secrets.password == SECRET  # the secret really is in scope here
        raise RuntimeError("a bug")

    # hostops run imports the fleet when its body runs: the rollout's function is its.
    mocker.patch.object(hostops.fleet.rollout, "operate", side_effect=broken)
    code = main(["run", "true", "-H", "web1", "--sudo", "--debug", "--no-ssh-config"])
    err = capfd.readouterr().err
    assert code == 4
    assert "hostops: error: internal error: RuntimeError: a bug" in err
    assert "Traceback (most recent call last)" in err
    assert SECRET not in err


@pytest.mark.parametrize(
    ("flag", "env", "shown"),
    [(False, None, False), (True, None, True), (False, "1", True)],
)
def test_one_rule_decides_tracebacks_for_bugs_and_hostops_errors(
    flag: bool,
    env: str | None,
    shown: bool,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
) -> None:
    """--debug or HOSTOPS_DEBUG, the same for a bug and for a hostops error."""
    if env is None:
        monkeypatch.delenv("HOSTOPS_DEBUG", raising=False)
    else:
        monkeypatch.setenv("HOSTOPS_DEBUG", env)
    debug = ["--debug"] if flag else []
    for argv, line in (
        (["inventory", "--hosts", str(tmp_path / "nothing.yaml"), *debug], "nothing.yaml"),
        (["history", "-n", "1", *debug], "internal error: RuntimeError: a bug"),
    ):
        if argv[0] == "history":
            monkeypatch.setattr(hostops.cli.records, "iter_summaries", _broken)
        assert main(argv) in (2, 4)
        err = capfd.readouterr().err
        assert line in err.splitlines()[0]
        assert ("Traceback (most recent call last)" in err) is shown


def _broken(*args: object) -> None:
    raise RuntimeError("a bug")
