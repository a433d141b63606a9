"""plan(): how many worker processes, and session threads per worker, for a run."""

from __future__ import annotations

import math

import pytest

from hostops.engine import plan
from hostops.models import RunOptions


@pytest.mark.parametrize(
    ("n_hosts", "workers", "forks", "expected"),
    [
        (20, 2, 64, (2, 10)),
        (200, 2, 64, (2, 32)),
        (1, 2, 64, (1, 1)),
        (1, 8, 64, (1, 1)),
        (64, 4, 64, (4, 16)),
        (65, 4, 64, (4, 16)),
        (3, 8, 64, (3, 1)),
        (10, 3, 64, (3, 4)),
        (100, 1, 64, (1, 64)),
        (100, 4, 1, (1, 1)),
        (100, 4, 2, (2, 1)),
        (5, 2, 64, (2, 3)),
    ],
)
def test_plan_examples(n_hosts, workers, forks, expected):
    assert plan(n_hosts, RunOptions(workers=workers, forks=forks)) == expected


@pytest.mark.parametrize("n_hosts", [1, 2, 3, 7, 20, 63, 64, 65, 200, 1000])
@pytest.mark.parametrize("workers", [1, 2, 3, 8, 16])
@pytest.mark.parametrize("forks", [1, 2, 5, 64, 256])
def test_plan_invariants(n_hosts, workers, forks):
    w, t = plan(n_hosts, RunOptions(workers=workers, forks=forks))
    concurrency = min(forks, n_hosts)
    assert 1 <= w <= workers
    assert w <= concurrency  # never an idle worker process
    assert t >= 1
    assert w * t >= concurrency  # the whole concurrency is available
    assert t == math.ceil(concurrency / w)  # spread evenly, not piled on the first
    assert w * t < concurrency + w  # and not more threads than needed


def test_workers_none_uses_cpu_count(mocker):
    mocker.patch("hostops.engine.os.cpu_count", return_value=4)
    assert plan(20, RunOptions(workers=None, forks=64)) == (4, 5)
    assert plan(2, RunOptions(workers=None, forks=64)) == (2, 1)
    assert plan(1000, RunOptions(workers=None, forks=64)) == (4, 16)


def test_workers_none_and_unknown_cpu_count(mocker):
    mocker.patch("hostops.engine.os.cpu_count", return_value=None)
    assert plan(20, RunOptions(workers=None, forks=64)) == (1, 20)


def test_default_options_use_cpu_count(mocker):
    cpu = mocker.patch("hostops.engine.os.cpu_count", return_value=3)
    assert plan(30, RunOptions()) == (3, 10)
    assert cpu.called


def test_explicit_workers_ignore_cpu_count(mocker):
    mocker.patch("hostops.engine.os.cpu_count", return_value=16)
    assert plan(20, RunOptions(workers=2, forks=64)) == (2, 10)
