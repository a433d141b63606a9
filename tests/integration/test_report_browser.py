"""`hostops report`'s page in a real browser (headless Chromium, offline): what the DOM
holds once the page loaded and its script ran, and a screenshot."""

from __future__ import annotations

import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hostops.journal import Journal, Timing, host_line, load_run
from hostops.models import HostResult, RunOptions, RunReport, Status
from hostops.render.report import report_html
from hostops.testing.browser import chromium, dump_dom, screenshot
from hostops.testing.records import synthetic_run

pytestmark = pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)


class Dom(HTMLParser):
    """Elements (tag, attributes) and text of a serialized DOM."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.texts.append(data)

    def titles(self) -> list[str]:
        return [a["title"] for t, a in self.elements if t in ("a", "i") and a.get("title")]


def _page(tmp_path: Path, record: Path) -> Path:
    page = tmp_path / "report.html"
    page.write_text(report_html(load_run(record)))
    return page


def test_two_hundred_hosts_three_outcomes_and_a_slow_batch_in_chromium(tmp_path):
    # hostops.testing.records: every 25th host failed, every 40th unreachable, batch 3 slow
    record = synthetic_run(tmp_path, 200, batches=4, slow=3)
    page = _page(tmp_path, record)
    dom = Dom(dump_dom(page))
    titles = dom.titles()
    hosts = sorted(t.split("\n")[0] for t in titles)
    assert hosts == [f"host{i:05d}" for i in range(1, 201)]  # every host has its cell
    outcomes = {t.split("\n")[1].split(" in ")[0] for t in titles}
    assert outcomes == {"ok", "failed, exit 2", "unreachable"}
    text = "".join(dom.texts)
    for group in ("188 hosts", "7 hosts: exit 2", "5 hosts: connect to <address>:<port>"):
        assert group in text
    # The script ran: the policy let the page's own script through (it unhides the filter).
    (q,) = [a for _, a in dom.elements if a.get("id") == "q"]
    assert "hidden" not in q
    bars = [a for t, a in dom.elements if t == "g" and a.get("class") == "bar"]
    assert len(bars) == 200
    bands = [a for t, a in dom.elements if t == "rect" and a.get("class") in ("band0", "band1")]
    assert len(bands) == 4  # the batches
    # The slow batch: its hosts (101-150) are the slowest ones named.
    slowest = text.split("Slowest hosts")[1]
    named = [int(n) for n in re.findall(r"host(\d{5})", slowest)]
    assert len(named) == 10 and all(101 <= n <= 150 for n in named)


def test_a_screenshot_is_a_real_picture(tmp_path):
    page = _page(tmp_path, synthetic_run(tmp_path, 200, batches=4, slow=3))
    png = tmp_path / "shot.png"
    screenshot(page, png, 1280, 2000)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
    # A blank page compresses to a few KiB; charts, cells and text do not.
    assert len(data) > 50_000


def test_hostile_output_is_inert_in_the_browser(tmp_path):
    evil = (
        b"<script>document.title='pwned'</script>\n"
        b"<img src=x onerror=\"document.title='pwned'\">\n"
        b"<a href=\"javascript:document.title='pwned'\">x</a>\n"
        b"</textarea></style></pre></svg><b id=bold>bold</b>\n"
        b"\x1b[31mred\x1b[0m\n"
    )
    name = "<i id=evilname>n</i>"
    results = [
        HostResult("good", "a", Status.OK, 0, stdout=b"fine\n", duration_s=1.0),
        HostResult(name, "b", Status.FAILED, 1, stdout=evil, stderr=evil, error=evil.decode()),
    ]
    journal = Journal.start(
        ["run", "x"], evil.decode(), [r.host for r in results], RunOptions(), tmp_path
    )
    assert journal is not None
    for r in results:
        journal.record.append([host_line(r, Timing(0, 0.1, 1))])
    journal.finish(RunReport(tuple(results), 1.0), 1)
    page = _page(tmp_path, Path(journal.record.path))
    dom = Dom(dump_dom(page))
    tags = [t for t, _ in dom.elements]
    assert tags.count("script") == 1 and tags.count("img") == 0 and tags.count("textarea") == 0
    assert not [a for _, a in dom.elements if a.get("id") in ("bold", "evilname")]
    (title,) = [
        dom.texts[i] for i, _ in enumerate(dom.texts) if dom.texts[i].startswith("hostops report")
    ][:1]
    assert "pwned" not in title
    text = "".join(dom.texts)
    assert "<script>document.title='pwned'</script>" in text  # shown, as text
    assert "^[[31mred^[[0m" in text


def test_a_record_cut_by_a_crash_renders_with_the_missing_hosts_marked(tmp_path):
    page = _page(tmp_path, synthetic_run(tmp_path, 50, batches=2, recorded=30, finish=False))
    dom = Dom(dump_dom(page))
    missing = [a for _, a in dom.elements if "miss" in (a.get("class") or "").split()]
    assert sorted(a["title"].split("\n")[0] for a in missing) == [
        f"host{i:05d}" for i in range(31, 51)
    ]
    assert "did not finish: the record has no end line" in "".join(dom.texts)
