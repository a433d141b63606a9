"""Links and special files in transfers: never dropped silently. Each skipped entry is
counted in the summary and named in JSON; --follow-links follows links (as rsync -L),
each directory once."""

from __future__ import annotations

import os
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops


def _sites(root: Path) -> Path:
    """nginx's layout: sites-enabled/ holds links into sites-available/ (and here, a link
    to itself, a dangling link and a FIFO)."""
    (root / "sites-available").mkdir(parents=True)
    (root / "sites-available" / "default").write_text("server { listen 80; }\n")
    (root / "sites-available" / "api").write_text("server { listen 8080; }\n")
    enabled = root / "sites-enabled"
    enabled.mkdir()
    (enabled / "default").symlink_to("../sites-available/default")
    (enabled / "api").symlink_to(root / "sites-available" / "api")
    (enabled / "conf.d").symlink_to(root / "sites-available")  # a link to a directory
    (enabled / "loop").symlink_to(".")
    (enabled / "gone").symlink_to("nowhere")
    os.mkfifo(enabled / "fifo")
    return enabled


def test_get_reports_links_it_skips_and_follows_them_when_asked(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:1])
    enabled = _sites(tmp_path / "etc")
    out = tmp_path / "out"
    r = run_hostops("get", str(enabled), str(out), "--hosts", str(inv), "-o", "json")
    res = json_results(r.stdout)["host01"]
    assert res["status"] == "ok", r.stderr
    names = sorted(Path(p).name for p in res["skipped"])  # type: ignore[union-attr]
    assert names == ["api", "conf.d", "default", "fifo", "gone", "loop"]
    assert "not transferred: 6 entries" in r.stderr and "host01 6" in r.stderr
    r = run_hostops(
        "get", str(enabled), str(out / "f"), "--hosts", str(inv), "-o", "json", "--follow-links"
    )
    res = json_results(r.stdout)["host01"]
    assert res["status"] == "ok", r.stderr
    got = out / "f" / "host01" / str(enabled).lstrip("/")
    assert (got / "default").read_text() == "server { listen 80; }\n"
    assert (got / "api").read_text() == "server { listen 8080; }\n"
    assert (got / "conf.d" / "api").read_text() == "server { listen 8080; }\n"
    # The loop is entered no more than once; dangling links and the FIFO stay reported.
    skipped = sorted(Path(p).name for p in res["skipped"])  # type: ignore[union-attr]
    assert skipped == ["fifo", "gone", "loop"]
    assert not (got / "loop").exists()


def test_put_reports_links_and_fifos_it_skips_and_follows_links_when_asked(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:1])
    enabled = _sites(tmp_path / "local")
    dest = tmp_path / "remote"
    r = run_hostops("put", str(enabled), str(dest), "--hosts", str(inv), "-o", "json")
    res = json_results(r.stdout)["host01"]
    assert res["status"] == "ok", r.stderr
    # Links to files are sent as their content (as before); the rest is reported.
    assert (dest / "default").read_text() == "server { listen 80; }\n"
    skipped = sorted(Path(p).name for p in res["skipped"])  # type: ignore[union-attr]
    assert skipped == ["conf.d", "fifo", "gone", "loop"]
    assert "not transferred: 4 entries" in r.stderr
    dest2 = tmp_path / "remote2"
    r = run_hostops(
        "put", str(enabled), str(dest2), "--hosts", str(inv), "-o", "json", "--follow-links"
    )
    res = json_results(r.stdout)["host01"]
    assert res["status"] == "ok", r.stderr
    assert (dest2 / "conf.d" / "api").read_text() == "server { listen 8080; }\n"
    skipped = sorted(Path(p).name for p in res["skipped"])  # type: ignore[union-attr]
    assert skipped == ["fifo", "gone", "loop"]
