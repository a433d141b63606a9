"""plan(): session threads for each worker process of a run."""

from __future__ import annotations

import pytest

from hostops.fleet import engine
from hostops.fleet.engine import plan
from hostops.models import RunOptions


@pytest.mark.parametrize(
    ("n_hosts", "workers", "forks", "expected"),
    [
        (20, 2, 64, (10, 10)),
        (200, 2, 64, (32, 32)),
        (1, 2, 64, (1,)),
        (1, 8, 64, (1,)),
        (64, 4, 64, (16, 16, 16, 16)),
        (65, 4, 64, (16, 16, 16, 16)),
        (3, 8, 64, (1, 1, 1)),
        (10, 3, 64, (4, 3, 3)),
        (100, 1, 64, (64,)),
        (100, 4, 1, (1,)),
        (100, 4, 2, (1, 1)),
        (5, 2, 64, (3, 2)),
        (100, 2, 5, (3, 2)),  # --forks is a total: 5, not 6
        (100, 3, 64, (22, 21, 21)),
    ],
)
def test_plan_examples(n_hosts, workers, forks, expected):
    assert plan(n_hosts, RunOptions(workers=workers, forks=forks)) == expected


@pytest.mark.parametrize("n_hosts", [1, 2, 3, 7, 20, 63, 64, 65, 200, 1000])
@pytest.mark.parametrize("workers", [1, 2, 3, 8, 16])
@pytest.mark.parametrize("forks", [1, 2, 5, 64, 256])
def test_plan_invariants(n_hosts, workers, forks):
    threads = plan(n_hosts, RunOptions(workers=workers, forks=forks))
    concurrency = min(forks, n_hosts)
    assert 1 <= len(threads) <= workers
    assert len(threads) <= concurrency  # never an idle worker process
    assert min(threads) >= 1
    assert sum(threads) == concurrency  # exactly the concurrency asked for
    assert max(threads) - min(threads) <= 1  # spread evenly, not piled on the first


def test_workers_none_uses_cpu_count(mocker):
    mocker.patch("hostops.fleet.engine.os.cpu_count", return_value=4)
    assert plan(20, RunOptions(workers=None, forks=64)) == (5, 5, 5, 5)
    assert plan(2, RunOptions(workers=None, forks=64)) == (1, 1)
    assert plan(1000, RunOptions(workers=None, forks=64)) == (16, 16, 16, 16)


def test_workers_none_and_unknown_cpu_count(mocker):
    mocker.patch("hostops.fleet.engine.os.cpu_count", return_value=None)
    assert plan(20, RunOptions(workers=None, forks=64)) == (20,)


def test_default_options_use_cpu_count(mocker):
    cpu = mocker.patch("hostops.fleet.engine.os.cpu_count", return_value=3)
    assert plan(30, RunOptions()) == (10, 10, 10)
    assert cpu.called


def test_explicit_workers_ignore_cpu_count(mocker):
    mocker.patch("hostops.fleet.engine.os.cpu_count", return_value=16)
    assert plan(20, RunOptions(workers=2, forks=64)) == (10, 10)


def _limits(mocker, soft: int, hard: int):  # type: ignore[no-untyped-def]
    """The open-file limit as the engine sees it, and the calls that would change it."""
    limit = {"soft": soft}
    mocker.patch.object(engine.resource, "getrlimit", side_effect=lambda _: (limit["soft"], hard))

    def setrlimit(_: int, value: tuple[int, int]) -> None:
        limit["soft"] = value[0]

    return mocker.patch.object(engine.resource, "setrlimit", side_effect=setrlimit)


def test_a_library_caller_s_open_file_limit_is_left_alone(mocker) -> None:
    """Unless asked, the engine caps --forks to the limit instead of raising it."""
    setrlimit = _limits(mocker, soft=256, hard=65536)
    cap, warning = engine._fit_fd_limit(
        RunOptions(workers=1, forks=500), 500, keep=False, raise_limit=False
    )
    setrlimit.assert_not_called()
    assert cap == (256 - 64) // 4
    assert warning == (
        "open-file limit 256 (ulimit -n) is too low for --forks 500: running 48 hosts at a"
        " time instead"
    )


def test_the_cli_raises_the_open_file_limit_up_to_the_hard_limit(mocker) -> None:
    setrlimit = _limits(mocker, soft=256, hard=65536)
    cap, warning = engine._fit_fd_limit(
        RunOptions(workers=1, forks=500), 500, keep=False, raise_limit=True
    )
    setrlimit.assert_called_once_with(engine.resource.RLIMIT_NOFILE, (500 * 4 + 64, 65536))
    assert cap is None and warning is None


def test_without_forks_the_ceiling_is_planned_and_the_start_is_the_old_default() -> None:
    """Adaptive: each worker's threads allow the ceiling; the run starts at 64 in total."""
    options = RunOptions(workers=2)
    assert options.forks is None
    assert plan(200, options) == (100, 100)
    assert engine.start(plan(200, options), options) == (32, 32)
    assert plan(1000, options) == (128, 128)  # CEILING: 256
    assert engine.start(plan(1000, options), options) == (32, 32)
    # Few hosts: the start is every host already, nothing left to adapt.
    assert engine.start(plan(40, options), options) == plan(40, options) == (20, 20)


def test_given_forks_start_at_their_number() -> None:
    options = RunOptions(workers=2, forks=200)
    assert engine.start(plan(1000, options), options) == plan(1000, options) == (100, 100)


def test_adaptive_ceiling_capped_by_the_open_file_limit_with_a_warning(mocker) -> None:
    _limits(mocker, soft=256, hard=65536)
    options = RunOptions(workers=1)
    cap, warning = engine._fit_fd_limit(options, 500, keep=False, raise_limit=False)
    assert cap == 48
    assert warning == (
        "open-file limit 256 (ulimit -n) is too low for up to 256 hosts at once:"
        " running at most 48 hosts at a time instead"
    )
    threads = plan(500, options, cap)
    assert threads == (48,) and engine.start(threads, options) == threads
