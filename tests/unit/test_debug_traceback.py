"""--debug shows tracebacks of hostops's own failures, never the secrets in scope."""

from __future__ import annotations

import pytest
from pytest_mock import MockerFixture

import hostops.cli.run
from hostops.cli import main

SECRET = "s3 cr'et\"$HOME"


def test_debug_traceback_shows_no_local_values(
    mocker: MockerFixture, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while the secrets are local variables of the failing frames: the traceback
    names the frames, not what they hold."""
    monkeypatch.setenv("HOSTOPS_PASSWORD", SECRET)
    monkeypatch.setenv("HOSTOPS_SUDO_PASSWORD", SECRET)

    def broken(hosts, op, options, view, lock, record, **kw):  # type: ignore[no-untyped-def]
        secrets = kw["secrets"]
        assert secrets.password == SECRET  # the secret really is in scope here
        raise RuntimeError("a bug")

    mocker.patch.object(hostops.cli.run, "run_operation", side_effect=broken)
    code = main(["run", "true", "-H", "web1", "--sudo", "--debug", "--no-ssh-config"])
    err = capfd.readouterr().err
    assert code == 4
    assert "hostops: error: internal error: RuntimeError: a bug" in err
    assert "Traceback (most recent call last)" in err
    assert SECRET not in err
