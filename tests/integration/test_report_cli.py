"""`hostops report` after real runs against the sshd fleet: the page names every host
with its status, and the record holds the timings and steps the page draws."""

from __future__ import annotations

import itertools
import json
from html.parser import HTMLParser
from pathlib import Path

from hostops.journal import list_runs
from hostops.ranges import expand, split_top_level
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import run_hostops


class Cells(HTMLParser):
    """The status grid's cells: host -> its title's lines; and the page's text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.hosts: dict[str, list[str]] = {}
        self.texts: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("a", "i") and a.get("title"):
            lines = a["title"].split("\n")
            self.hosts[lines[0]] = lines[1:]

    def handle_data(self, data):
        self.texts.append(data)


def _fails_on(fleet: SshdFleet, numbers: list[int], code: int) -> str:
    cases = "|".join(f"*' {fleet.hosts[i - 1].address} '*" for i in numbers)
    return f'case "$SSH_CONNECTION" in {cases}) echo odd; exit {code};; esac; echo same'


def _record(home: Path) -> list[dict]:
    (path,) = list_runs(home / ".local/state/hostops/runs")[-1:]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_report_of_a_real_run_names_every_host_with_its_status(
    sshd_fleet: SshdFleet, tmp_path, isolated_home
):
    hosts = sshd_fleet.hosts[:10]
    inv = sshd_fleet.write_inventory(
        tmp_path / "inv.yaml", hosts, extra={"closed": ("127.0.0.1", 1)}
    )
    cmd = _fails_on(sshd_fleet, [3, 7], 2)
    r = run_hostops("run", cmd, "--hosts", str(inv), "--batch", "4", "-o", "quiet")
    assert r.returncode == 3, r.stderr
    out = tmp_path / "report.html"
    r = run_hostops("report", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("hostops: note: run ") and f"written to {out} (" in r.stderr
    page = Cells(out.read_text())
    statuses = {host: lines[0].split(" in ")[0] for host, lines in page.hosts.items()}
    expected = {h.name: "ok" for h in hosts} | {"closed": "unreachable"}
    expected |= {hosts[2].name: "failed, exit 2", hosts[6].name: "failed, exit 2"}
    assert statuses == expected

    lines = _record(isolated_home)
    header = lines[0]
    assert header["user"] and header["controller"]
    steps = [line for line in lines if line["type"] == "step"]
    assert [s["text"].split(":")[0] for s in steps] == ["batch 1/3", "batch 2/3", "batch 3/3"]
    t = {line["host"]: line["t"] for line in lines if line["type"] == "host"}
    assert set(t) == set(expected)  # every host started
    for host, (start, connected, end) in t.items():
        if host == "closed":
            assert connected is None and start <= end
        else:
            assert start <= connected <= end
    # batches one after another: a batch's hosts start once the one before has finished
    order = [h.name for h in hosts] + ["closed"]
    batches = [order[0:4], order[4:8], order[8:11]]
    for before, after in itertools.pairwise(batches):
        assert max(t[h][2] for h in before) <= min(t[h][0] for h in after)
    for (at, *_), batch in zip(((s["t"],) for s in steps), batches, strict=True):
        assert at <= min(t[h][0] for h in batch)


PLAYBOOK = """\
- name: web
  hosts: all
  tasks:
    - name: first
      run: "true"
    - name: breaks on some
      run: |
        {cmd}
    - name: last
      run: echo done
"""


def test_report_of_a_real_play_has_its_recap_and_where_hosts_stopped(
    sshd_fleet: SshdFleet, tmp_path, isolated_home
):
    hosts = sshd_fleet.hosts[:6]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    book = tmp_path / "site.yml"
    book.write_text(PLAYBOOK.format(cmd=_fails_on(sshd_fleet, [2, 5], 3)))
    r = run_hostops("play", str(book), "--hosts", str(inv), "-o", "quiet")
    assert r.returncode == 1, r.stderr
    out = tmp_path / "play.html"
    assert run_hostops("report", "last", "-o", str(out)).returncode == 0
    page = Cells(out.read_text())
    failed = {hosts[1].name, hosts[4].name}
    assert {h for h, lines in page.hosts.items() if lines[0].startswith("failed")} == failed
    assert set(page.hosts) == {h.name for h in hosts}
    text = "".join(page.texts)
    assert "Playbook recap" in text and "breaks on some" in text

    lines = _record(isolated_home)
    (recap,) = [line for line in lines if line["type"] == "recap"]
    tasks = recap["plays"][0]["tasks"]
    done = [(t["ok"] + t["changed"], t["failed"]) for t in tasks]  # a command: changed
    assert done == [(6, 0), (4, 2), (4, 0)]
    stopped = tasks[1]["stopped"]  # folded: web[02,05]
    assert {n for part in split_top_level(stopped) for n in expand(part)} == failed
    t = {line["host"]: line["t"] for line in lines if line["type"] == "host"}
    end = next(line for line in lines if line["type"] == "end")
    for start, connected, finish in t.values():
        assert start <= connected <= finish <= end["duration_s"] + 0.01
    # a host that stopped at task 2 ended before those that went on to task 3
    assert max(t[h][2] for h in failed) <= min(t[h.name][2] for h in hosts if h.name not in failed)
