"""`hostops report`'s page, parsed back with html.parser: well-formed, its CSP, its
counts, hostile output inert, older and cut records, a playbook's recap, scale."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hostops.journal import Journal, Timing, host_line, list_runs, load_run, step_line
from hostops.models import HostResult, RunOptions, RunReport, Status
from hostops.playbook.recap import recap_line
from hostops.playbook.results import PlaybookResult, PlayResult, TaskHostResult, TaskResult
from hostops.render.report import report_html
from hostops.render.report.facts import MAX_BARS
from hostops.testing.records import synthetic_run

VOID = {"meta", "input", "br", "hr", "img", "link"}
HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    '<a href="javascript:alert(3)">click</a>',
    "</textarea><script>alert(4)</script>",
    "</style><script>alert(5)</script>",
    "</pre></svg></title><b>bold</b>",
]


class Page(HTMLParser):
    """Elements and text of a page; raises on a close tag that closes nothing open."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[tuple[tuple[str, ...], str]] = []
        self.feed(source)
        self.close()
        assert self.stack == [], f"left open: {self.stack}"

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-3:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.texts.append((tuple(self.stack), data))

    def text(self) -> str:
        return "".join(t for _, t in self.texts)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def _sha(source: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()


def _write(tmp_path: Path, results, timings=None, steps=(), command="uname -r", end=True):
    names = [r.host for r in results]
    journal = Journal.start(["run", command], command, names, RunOptions(), tmp_path)
    assert journal is not None
    for at, what in steps:
        journal.record.append([step_line(at, what)])
    for r in results:
        journal.record.append([host_line(r, (timings or {}).get(r.host))])
    if end:
        journal.finish(RunReport(tuple(results), 2.0), 1)
    return load_run(Path(journal.record.path))


def _three_groups(tmp_path: Path):
    results = [
        HostResult(f"web{i:02d}", f"10.0.0.{i}", Status.OK, 0, stdout=b"6.1\n", duration_s=1.0)
        for i in range(1, 9)
    ]
    results.append(
        HostResult(
            "web09", "10.0.0.9", Status.FAILED, 2, stdout=b"5.10\n", error="exit 2", duration_s=1.8
        )
    )
    results.append(
        HostResult(
            "web10",
            "10.0.0.10",
            Status.UNREACHABLE,
            error="connect to 10.0.0.10:22: Connection refused",
        )
    )
    timings = {r.host: Timing(0.1, 0.2, 0.1 + r.duration_s) for r in results[:9]}
    timings["web10"] = Timing(0.1, None, 0.15)
    return _write(tmp_path, results, timings, steps=[(0.05, "batch 1/1: web[01-10]")])  # fmt: skip


def test_the_page_is_well_formed_with_one_script_allowed_by_its_csp(tmp_path):
    source = report_html(_three_groups(tmp_path))
    page = Page(source)
    (script,) = re.findall(r"<script>(.*?)</script>", source, re.S)
    assert len(page.tags("script")) == 1
    (style,) = re.findall(r"<style>(.*?)</style>", source, re.S)
    (meta,) = [m for m in page.tags("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    policy = dict(p.strip().split(" ", 1) for p in meta["content"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == f"'{_sha(script)}'"
    assert policy["style-src"] == f"'{_sha(style)}'"
    # Nothing the policy would have to allow: no style attribute, no handler, no URL but
    # the page's own anchors.
    for _tag, attrs in page.elements:
        assert "style" not in attrs
        assert not any(name.startswith("on") for name in attrs)
        for name in ("href", "src", "action", "xlink:href"):
            assert attrs.get(name) is None or attrs[name].startswith("#")


def test_counts_outcomes_and_every_host_are_on_the_page(tmp_path):
    page = Page(report_html(_three_groups(tmp_path)))
    badges = [
        t for stack, t in page.texts if stack[-1:] == ("span",) and re.fullmatch(r"\d+ \w+", t)
    ]
    assert badges == ["8 ok", "1 failed", "1 unreachable"]
    titles = [a["title"] for tag, a in page.elements if tag in ("a", "i") and a.get("title")]
    assert sorted(t.split("\n")[0] for t in titles) == [f"web{i:02d}" for i in range(1, 11)]
    web09 = next(t for t in titles if t.startswith("web09\n"))
    assert "failed, exit 2" in web09 and "output: group 2" in web09
    text = page.text()
    # the failed host's output as a diff against the majority's
    assert "--- majority\n+++ web09\n@@ -1 +1 @@\n-6.1\n+5.10" in text
    assert "connect to 10.0.0.10:22: Connection refused" in text  # one host: its own reason
    assert "batch 1/1: web[01-10]" in text  # the batch, under the timeline
    assert len([g for g in page.tags("g") if g.get("class") == "bar"]) == 10


def test_hostile_output_names_and_reasons_are_text_never_markup(tmp_path):
    evil = (
        "\n".join(HOSTILE).encode() + b"\n\x1b[31mred\x1b[0m \x1b]0;title\x07 \xe2\x80\xae rtl\r\n"
    )
    name = '<b onmouseover="alert(6)">host</b>'
    results = [
        HostResult("ok1", "a", Status.OK, 0, stdout=b"fine\n", duration_s=1),
        HostResult("ok2", "b", Status.OK, 0, stdout=b"fine\n", duration_s=1),
        HostResult(name, "c", Status.FAILED, 1, stdout=evil, stderr=evil, error=HOSTILE[0], duration_s=2),
    ]  # fmt: skip
    timings = {r.host: Timing(0, 0.1, 1) for r in results}
    run = _write(tmp_path, results, timings, steps=[(0.0, HOSTILE[4])], command=HOSTILE[3])
    source = report_html(run)
    page = Page(source)
    for raw in [*HOSTILE, name, "\x1b", "\x07", "\u202e", "\r"]:
        assert raw not in source
    # "javascript:" is there as text only: no attribute holds it
    assert not any(
        "javascript" in (v or "") for _, a in page.elements for k, v in a.items() if k != "title"
    )
    assert len(page.tags("script")) == 1 and len(page.tags("style")) == 1
    assert page.tags("img") == [] and page.tags("b") == [] and page.tags("textarea") == []
    text = page.text()
    for raw in HOSTILE:  # shown, as text
        assert raw in text
    assert "^[[31mred^[[0m" in text and "\\u202e rtl^M" in text  # as the terminal views
    titles = [a["title"] for tag, a in page.elements if a.get("title")]
    assert any(t.startswith(name + "\n") for t in titles)


def test_an_older_record_without_timings_still_reports(tmp_path):
    """A record of a hostops before timings: no "t", no step lines, no user."""
    run = _three_groups(tmp_path)
    path = Path(list_runs(tmp_path)[-1])
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    for line in lines:
        line.pop("t", None)
        line.pop("user", None)
        line.pop("controller", None)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines if x["type"] != "step"))
    run = load_run(path)
    page = Page(report_html(run))
    text = page.text()
    assert "No timings in this record" in text and "not recorded on not recorded" in text
    assert page.tags("g") and not [g for g in page.tags("g") if g.get("class") == "bar"]
    assert "Slowest hosts" in text and "web09" in text  # durations still there


def test_a_record_cut_by_a_crash_marks_the_hosts_without_a_result(tmp_path):
    path = synthetic_run(tmp_path, 30, batches=3, recorded=17, finish=False)
    run = load_run(path)
    page = Page(report_html(run))
    text = page.text()
    assert "did not finish: the record has no end line" in text
    assert "13 hosts have no result: host[00018-00030]" in text
    missing = [a for tag, a in page.elements if "miss" in (a.get("class") or "").split()]
    assert len(missing) == 13 and all("no result in the run record" in a["title"] for a in missing)


def test_a_playbooks_recap_is_shown_per_task_with_where_hosts_stopped(tmp_path):
    t1 = TaskResult(1, "install <pkg>", "run", (
        TaskHostResult("a", Status.OK, changed=True), TaskHostResult("b", Status.OK),
        TaskHostResult("c", Status.FAILED, exit_code=1, error="exit 1"),
    ))  # fmt: skip
    t2 = TaskResult(
        2, "restart", "run", (TaskHostResult("a", Status.OK), TaskHostResult("b", Status.SKIPPED))
    )
    play = PlayResult(1, "web", ("a", "b", "c"), (("a", "b", "c"),), (t1, t2))
    result = PlaybookResult((play,), 1.0, planned={"a": 2, "b": 2, "c": 2})
    results = [
        HostResult("a", "a", Status.OK, 0, tasks_done=2, tasks_total=2, changed=True),
        HostResult("b", "b", Status.OK, 0, tasks_done=2, tasks_total=2, changed=False),
        HostResult("c", "c", Status.FAILED, 1, error="task 1 'install <pkg>': exit 1", tasks_done=0, tasks_total=2),
    ]  # fmt: skip
    journal = Journal.start(
        ["play", "site.yml"], "play site.yml", ["a", "b", "c"], RunOptions(), tmp_path
    )
    for r in results:
        journal.record.append([host_line(r)])
    journal.record.append([recap_line(result)])
    journal.finish(RunReport(tuple(results), 1.0), 1)
    page = Page(report_html(load_run(Path(journal.record.path))))
    # one row per task: number, name, ok, changed, failed, skipped, ignored, stopped here
    cells = [t for stack, t in page.texts if stack[-2:] == ("tr", "td")]
    assert cells[:8] == ["1", "install <pkg>", "1", "1", "1", "0", "0", "c"]
    assert cells[8:15] == ["2", "restart", "1", "0", "0", "1", "0"]
    text = page.text()
    assert "0 of 2 tasks done" in "".join(a.get("title") or "" for _, a in page.elements)
    assert "Playbook recap" in text and "1 changed" in text


def test_a_play_record_without_its_recap_says_so(tmp_path):
    results = [HostResult("a", "a", Status.OK, 0)]
    run = _write(tmp_path, results, command="play site.yml")
    assert "This record has no per-task recap" in Page(report_html(run)).text()


def test_ten_thousand_hosts_make_a_page_of_a_few_megabytes(tmp_path):
    run = load_run(synthetic_run(tmp_path, 10_000, batches=10, slow=4))
    source = report_html(run)
    assert len(source.encode()) < 3_000_000
    page = Page(source)
    bars = [g for g in page.tags("g") if g.get("class") == "bar"]
    assert 0 < len(bars) <= MAX_BARS
    cells = [a for tag, a in page.elements if tag in ("a", "i") and a.get("title")]
    assert len(cells) == 10_000  # every host has its cell
    assert "A bar per 10 hosts" in page.text()  # 10,000 hosts in 1,000 rows


def _hostops(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostops", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_hostops_report_writes_its_file_and_says_where(tmp_path):
    state = tmp_path / "state"
    runs = state / "hostops" / "runs"
    runs.mkdir(parents=True, mode=0o700)
    (state / "hostops").chmod(0o700)
    state.chmod(0o700)
    run = load_run(synthetic_run(runs, 5))
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    work = tmp_path / "work"
    work.mkdir()
    r = _hostops("report", cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    path = work / f"hostops-report-{run.id}.html"
    assert r.stderr.startswith(f"hostops: note: run {run.id}: report written to {path.name} (")
    assert len(r.stderr.splitlines()) == 1 and r.stdout == ""
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # the hosts' outputs: as the record
    Page(path.read_text())
    r = _hostops("report", run.id[:12], "-o", "-", cwd=work, env=env)
    assert r.returncode == 0 and r.stdout == path.read_text()
    r = _hostops("report", "nope", cwd=work, env=env)
    assert r.returncode == 2
    assert r.stderr == "hostops: error: no recorded run 'nope' (see 'hostops history')\n"
    r = _hostops("report", "-o", str(tmp_path / "none" / "x.html"), cwd=work, env=env)
    assert r.returncode == 2 and r.stderr.startswith("hostops: error: --out: ")
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("count", [0, 1])
def test_tiny_runs_still_make_a_page(tmp_path, count):
    results = [HostResult("a", "a", Status.OK, 0)][:count]
    Page(report_html(_write(tmp_path, results)))
