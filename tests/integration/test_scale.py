"""A large fan-out in one worker process (hundreds of threads): no deadlock between the
engine and the worker on their pipe. Local connections: the point is the engine."""

from __future__ import annotations

from hostops import Host, RunOptions, Status, Transport, run


def test_six_hundred_sessions_in_one_worker_finish() -> None:
    hosts = [Host(f"h{i:03d}", "localhost", connection=Transport.LOCAL) for i in range(600)]
    report = run(
        hosts,
        "sleep 1; echo done",
        options=RunOptions(workers=1, forks=600),
        raise_fd_limit=True,  # 600 sessions at once, whatever ulimit -n says
    )
    assert report.counts() == {Status.OK: 600}
    assert {r.stdout for r in report.results} == {b"done\n"}
