"""An upload that only compares (``Upload.dry_run``, for ``put --check``): which files
would be written, by size and checksum on the host, and nothing written."""

from __future__ import annotations

from pathlib import Path

from hostops import run_operation
from hostops.models import Status
from hostops.operations import Upload
from hostops.testing import SshdFleet


def test_a_dry_run_says_what_would_change_and_writes_nothing(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "same.txt").write_text("same\n")
    (src / "new.txt").write_text("new\n")
    (src / "edited.txt").write_text("v2\n")
    dests = {h: tmp_path / f"dest-{h}" for h in ("host01", "host02")}
    dests["host01"].mkdir()
    (dests["host01"] / "same.txt").write_text("same\n")
    (dests["host01"] / "edited.txt").write_text("v1\n")  # same size, other content
    hosts = [sshd_fleet.host(0), sshd_fleet.host(1)]
    report = run_operation(hosts[:1], Upload(str(src), str(dests["host01"]), dry_run=True))
    (r,) = report.results
    assert r.status is Status.OK and r.changed
    assert (dests["host01"] / "edited.txt").read_text() == "v1\n"
    assert not (dests["host01"] / "new.txt").exists()
    # A destination that is all there: no change would be made.
    (dests["host01"] / "edited.txt").write_text("v2\n")
    (dests["host01"] / "new.txt").write_text("new\n")
    report = run_operation(hosts[:1], Upload(str(src), str(dests["host01"]), dry_run=True))
    assert [r.changed for r in report.results] == [False]
    # Nothing there: everything would be written, and still nothing is.
    report = run_operation(hosts[1:], Upload(str(src), str(dests["host02"]), dry_run=True))
    assert [r.changed for r in report.results] == [True]
    assert not dests["host02"].exists()
