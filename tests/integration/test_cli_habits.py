"""Habits users bring, and inputs that must never succeed silently (issue 14): the command
as several words (and after --), zero hosts, files given on the command line that do not
exist, put --parents, output that cannot be written (a full disk) or is no longer read
(``| head``)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops, start_hostops


def _one_error_line(r, *parts: str) -> None:  # type: ignore[no-untyped-def]
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hostops: error: "), r.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def test_the_command_as_several_words(fleet20: tuple[SshdFleet, Path]) -> None:
    _fleet, inv = fleet20
    r = run_hostops("run", "echo", "hello", "world", "--hosts", str(inv), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert {o["stdout"] for o in json_results(r.stdout).values()} == {"hello world\n"}
    # After --, everything is the command, dashes included.
    r = run_hostops("run", "--hosts", str(inv), "-l", "host01", "-o", "json", "--", "ls", "-d", "/")
    assert r.returncode == 0, r.stderr
    assert json_results(r.stdout)["host01"]["stdout"] == "/\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "ls", "-la", "--hosts", "INV"],  # not a hostops option
        ["run", "grep", "-l", "x", "f", "--hosts", "INV"],  # -l is --limit: never silently
    ],
)
def test_a_dash_word_in_the_command_is_a_usage_error(tmp_path: Path, argv: list[str]) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  here:\n    connection: local\n")
    r = run_hostops(*[str(inv) if a == "INV" else a for a in argv])
    _one_error_line(r, "quote the command or put it after --")


@pytest.mark.parametrize(
    ("name", "text"),
    [("typo.yaml", "host:\n  web01:\n"), ("groups.ini", "[web]\n[db]\n")],
)
def test_zero_hosts_is_an_error_unless_allowed(tmp_path: Path, name: str, text: str) -> None:
    inv = tmp_path / name
    inv.write_text(text)
    for command in (["run", "true"], ["inventory"]):
        r = run_hostops(*command, "--hosts", str(inv))
        _one_error_line(r, str(inv))
        assert "did you mean 'all'" not in r.stderr
    if name == "groups.ini":
        r = run_hostops("run", "true", "--hosts", str(inv), "--allow-empty")
        assert r.returncode == 0 and "no hosts" in r.stderr, r.stderr
        r = run_hostops("run", "true", "--hosts", str(inv), "-l", "all")
        _one_error_line(r, str(inv))
        assert "did you mean" not in r.stderr


def test_files_named_on_the_command_line_must_exist(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  web01:\n    address: 127.0.0.1\n    port: 1\n")
    missing = tmp_path / "missing"
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [
        (["--identity", str(missing)], "--identity"),
        (["--known-hosts", str(missing)], "--known-hosts"),
        (["--ssh-config", str(missing)], "--ssh-config"),
        (["--out-dir", str(blocker / "sub")], "--out-dir"),
    ]
    for options, flag in cases:
        r = run_hostops("run", "true", "--hosts", str(inv), *options)
        _one_error_line(r, flag)
    # A missing known_hosts is fine when unknown keys are to be recorded in it.
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--known-hosts", str(missing),
        "--host-key-policy", "accept-new",
    )  # fmt: skip
    assert r.returncode == 3, r.stderr  # ran: the host's port is closed


def test_put_parents(fleet20: tuple[SshdFleet, Path], tmp_path: Path) -> None:
    _fleet, inv = fleet20
    src = tmp_path / "motd"
    src.write_text("hi\n")
    target = str(tmp_path / "remote" / "a" / "b" / "motd")
    r = run_hostops("put", str(src), target, "--hosts", str(inv), "-l", "host01", "-o", "json")
    assert r.returncode == 1
    assert "--parents" in json_results(r.stdout)["host01"]["error"]
    r = run_hostops(
        "put", str(src), target, "--parents", "--hosts", str(inv), "-l", "host01", "-o", "json"
    )
    assert r.returncode == 0, r.stderr
    assert Path(target).read_text() == "hi\n"


def test_output_that_cannot_be_written_is_said_and_the_run_still_accounts_for_every_host(
    fleet20: tuple[SshdFleet, Path], tmp_path: Path
) -> None:
    """`hostops run ... > out.txt` on a full disk (/dev/full): one error line naming
    standard output and the reason, exit 4 (never 0), every host run and recorded. Before,
    the aggregator died with a traceback and the results were lost."""
    _fleet, inv = fleet20
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    with open("/dev/full", "wb") as full:
        r = run_hostops("run", "seq 50", "--hosts", str(inv), stdout=full, env=env)
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("hostops: error: ")]
    assert len(errors) == 1, r.stderr
    assert "cannot write standard output: No space left on device" in errors[0]
    run_id = re.search(r"'hostops show (\S+)'", errors[0])
    assert run_id is not None, errors[0]
    shown = run_hostops("show", run_id.group(1), "-o", "json", env=env)
    results = json_results(shown.stdout)
    assert len(results) == 20 and {o["status"] for o in results.values()} == {"ok"}
    history = run_hostops("history", "--json", env=env)
    assert json.loads(history.stdout.splitlines()[0])["exit_code"] == 4  # as the process's


def test_standard_error_that_cannot_be_written_leaves_the_verdict_to_the_exit_code(
    fleet20: tuple[SshdFleet, Path], tmp_path: Path
) -> None:
    """Messages and the summary lost (2>/dev/full): the exit code is the hosts' (1 here),
    in the process and in the run record alike; the output itself is all there."""
    _fleet, inv = fleet20
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    with open("/dev/full", "wb") as full:
        r = run_hostops("run", "echo out; exit 3", "--hosts", str(inv), stderr=full, env=env)
    assert r.returncode == 1
    assert r.stdout.count("| out") == 20
    history = run_hostops("history", "--json", env=env)
    assert json.loads(history.stdout.splitlines()[0])["exit_code"] == 1


@pytest.mark.parametrize(("closed", "code"), [(1, 4), (2, 0)])
def test_a_standard_descriptor_closed_at_the_start_is_never_another_file(
    fleet20: tuple[SshdFleet, Path], tmp_path: Path, closed: int, code: int
) -> None:
    """`hostops run ... >&-` or `2>&-`: the next file hostops opens (a run record, a
    socket) would get that number and the output meant for it. Nothing of hostops's
    output lands in its state files; a closed stdout is said (exit 4, as `ls >&-`
    fails), a closed stderr asks for no messages (exit 0)."""
    _fleet, inv = fleet20
    state = tmp_path / "state"
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    r = run_hostops(
        *("run", "echo marker-out", "--hosts", str(inv)),
        env=env,
        preexec_fn=lambda: os.close(closed),
        **({"stdout": None} if closed == 1 else {"stderr": None}),
    )
    assert r.returncode == code, r.stderr
    if closed == 1:
        assert r.stderr.splitlines()[-1].startswith(
            "hostops: error: cannot write standard output: Bad file descriptor"
        ), r.stderr
    else:
        assert r.stdout.count("| marker-out") == 20
    written = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())
    assert b"hostops: " not in written and b"| marker-out" not in written


def test_a_reader_that_stops_reading_is_no_error(fleet20: tuple[SshdFleet, Path]) -> None:
    """`hostops run ... | head -1`: the reader asked for no more; the run goes on to
    the end and its exit code is the hosts' (0), with no error."""
    _fleet, inv = fleet20
    proc = start_hostops("run", "seq 100000", "--hosts", str(inv))
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert "error" not in err and "20 ok" in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["inventory", "--hosts", "INV"],
        ["inventory", "--hosts", "INV", "--json"],
        ["--version"],
        ["--help"],
        ["run", "--help"],
    ],
)
def test_every_command_says_when_its_output_cannot_be_written(
    tmp_path: Path, argv: list[str]
) -> None:
    """Not only runs: a listing sent to a full disk is exit 4 and one line, never 0."""
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  web1:\n    address: 127.0.0.1\n")
    argv = [str(inv) if a == "INV" else a for a in argv]
    with open("/dev/full", "wb") as full:
        r = run_hostops(*argv, stdout=full)
    assert r.returncode == 4, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("hostops: error: cannot write standard output: No space left")
