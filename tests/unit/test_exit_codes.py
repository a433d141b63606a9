"""exit_code_for: one place decides the process exit code, with a fixed precedence."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from hostops.errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    ConfigError,
    HostopsError,
    InternalError,
    UsageError,
    exit_code_for,
)
from hostops.models import HostResult, RunReport, Status

# The code each status alone leads to.
_CODE = {
    Status.OK: 0,
    Status.SKIPPED: 0,
    Status.FAILED: 1,
    Status.TIMEOUT: 1,
    Status.ERROR: 1,
    Status.UNREACHABLE: 3,
    Status.AUTH_FAILED: 3,
    Status.HOSTKEY_REJECTED: 3,
    Status.INTERRUPTED: 130,
    Status.INCOMPLETE: 1,  # a rollout stopped part-way on the host
    Status.NOT_RUN: 1,  # a rollout stopped before the host
}
_RANK = {0: 0, 1: 1, 3: 2, 4: 3, 130: 4}


def _report(*statuses: Status, interrupted: bool = False) -> RunReport:
    results = tuple(HostResult(f"h{i}", f"10.0.0.{i}", s) for i, s in enumerate(statuses))
    return RunReport(results=results, duration_s=1.0, interrupted=interrupted)


def _expected(statuses, interrupted=False) -> int:
    codes = [_CODE[s] for s in statuses]
    if interrupted:
        codes.append(130)
    return max(codes, key=_RANK.__getitem__, default=0)


def test_constants():
    assert (
        EXIT_OK,
        EXIT_FAILED,
        EXIT_USAGE,
        EXIT_UNREACHABLE,
        EXIT_INTERNAL,
        EXIT_INTERRUPTED,
    ) == (
        0,
        1,
        2,
        3,
        4,
        130,
    )


def test_every_status_is_mapped():
    assert set(_CODE) == set(Status)


def test_empty_report_is_ok():
    assert exit_code_for(RunReport(results=(), duration_s=0.0)) == 0


@pytest.mark.parametrize("status", list(Status))
def test_single_status(status):
    assert exit_code_for(_report(status)) == _CODE[status]


@pytest.mark.parametrize("status", list(Status))
def test_single_status_among_many_ok(status):
    assert exit_code_for(_report(Status.OK, status, Status.OK, Status.SKIPPED)) == _CODE[status]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(list(Status), 2)))
def test_every_pair_of_statuses(a, b):
    assert exit_code_for(_report(a, b)) == _expected([a, b])
    assert exit_code_for(_report(b, a)) == _expected([a, b])


@pytest.mark.parametrize(
    "statuses",
    [
        (Status.OK, Status.FAILED, Status.UNREACHABLE),
        (Status.TIMEOUT, Status.AUTH_FAILED, Status.ERROR),
        (Status.SKIPPED, Status.HOSTKEY_REJECTED),
        (Status.FAILED, Status.TIMEOUT, Status.ERROR, Status.OK),
        (Status.OK, Status.SKIPPED),
        (Status.INTERRUPTED, Status.UNREACHABLE, Status.FAILED),
    ],
)
@pytest.mark.parametrize("interrupted", [False, True])
def test_mixes_with_flags(statuses, interrupted):
    report = _report(*statuses, interrupted=interrupted)
    assert exit_code_for(report) == _expected(statuses, interrupted)


def test_precedence_ladder():
    assert exit_code_for(_report(Status.OK, Status.SKIPPED)) == 0
    assert exit_code_for(_report(Status.OK, Status.FAILED)) == 1
    assert exit_code_for(_report(Status.FAILED, Status.UNREACHABLE)) == 3
    assert exit_code_for(_report(Status.UNREACHABLE, interrupted=True)) == 130


def test_interrupted_flag_alone_with_all_ok():
    assert exit_code_for(_report(Status.OK, Status.OK, interrupted=True)) == 130


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (KeyboardInterrupt(), 130),
        (UsageError("bad option"), 2),
        (ConfigError("bad file", path="f", line=1), 2),
        (InternalError("lost"), 4),
        (HostopsError("generic"), 4),
        (RuntimeError("a bug"), 4),
        (ValueError("not a ConfigError"), 4),
        (OSError("disk"), 4),
    ],
)
def test_exceptions(exc, code):
    assert exit_code_for(exc) == code


def test_exception_subclass_keeps_exit_code():
    class MyConfigError(ConfigError):
        pass

    assert exit_code_for(MyConfigError("x")) == 2


@pytest.mark.parametrize("status", list(Status))
def test_output_that_could_not_be_written_is_exit_4_below_an_interruption(status):
    """The run went on and every host has its result, but what it showed is incomplete
    (a full disk under `> out.txt`): never 0; an interruption still says 130."""
    lost = dataclasses.replace(_report(status), output_lost="standard output: No space")
    assert exit_code_for(lost) == (130 if _CODE[status] == 130 else EXIT_INTERNAL)
    interrupted = dataclasses.replace(lost, interrupted=True)
    assert exit_code_for(interrupted) == EXIT_INTERRUPTED
