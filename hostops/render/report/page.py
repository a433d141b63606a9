"""``hostops report``: one self-contained HTML page of a recorded run.

Inline CSS and SVG, one small inline script (a host filter), nothing fetched: the
page opens from a file or an e-mail attachment. Its Content-Security-Policy allows
only its own style sheet and script (by their SHA-256 hashes) and nothing from any
network. Every text from the run passes through :mod:`hostops.render.report.markup`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import shlex
from collections.abc import Iterator
from typing import Any

from hostops._version import __version__
from hostops.journal import PastRun
from hostops.models import HostResult, Status
from hostops.ranges import fold
from hostops.render.report import charts
from hostops.render.report.facts import Facts, OutputGroup, Shown, facts
from hostops.render.report.markup import attr, decoded, seconds, text
from hostops.render.report.recap import recap_section

OUTPUT_BUDGET = 1_500_000  # characters of output and diffs a page shows in all
_SET_SHOWN = 300  # a host set longer than this is folded away in a <details>
_SMALL_CELLS = 2000  # an outcome of more hosts than this: smaller cells

_COLORS = {
    "ok": "#2e7d32",
    "failed": "#c62828",
    "timeout": "#ef6c00",
    "unreachable": "#6a1b9a",
    "auth_failed": "#ad1457",
    "hostkey_rejected": "#4e342e",
    "error": "#b71c1c",
    "skipped": "#9e9e9e",
    "interrupted": "#f9a825",
    "incomplete": "#00838f",
    "not_run": "#bdbdbd",
}
STYLE = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em;"
    "color:#212121}h1{font-size:1.4em}h2{border-bottom:1px solid #ccc;margin-top:2em}"
    "code,pre{font:12px/1.35 ui-monospace,monospace}pre{background:#f6f6f6;padding:.5em;"
    "overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;max-height:40em}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}"
    "dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}"
    ".badge{display:inline-block;padding:.1em .6em;margin:.1em;border-radius:1em;color:#fff}"
    ".grid{line-height:0;margin:.3em 0 1em}.grid>*{display:inline-block;width:10px;"
    "height:10px;margin:1px}.grid>.miss{outline:2px dashed #000;outline-offset:-2px}"
    ".grid>.off{opacity:.08}.ctl{color:#d500f9;font-weight:700}.note{color:#555}"
    ".diff .add{color:#1b5e20;background:#e8f5e9}.diff .del{color:#b71c1c;"
    "background:#ffebee}.diff .hunk{color:#6a1b9a}table{border-collapse:collapse}"
    "td,th{border:1px solid #ddd;padding:.15em .5em;text-align:right}td.l,th.l{text-align:left}"
    ".chart{width:100%;height:auto;font:11px sans-serif}.chart .grid{stroke:#e0e0e0}"
    ".chart .step{stroke:#555;stroke-dasharray:2 2}.chart .tick{fill:#555}"
    ".chart .end,.chart .hn{text-anchor:end}.chart .hn{fill:#333}.band0{fill:#e3f2fd}"
    ".band1{fill:#fff8e1}.cn{opacity:.4}.fail{fill:#000}.sn{fill:#555;font-size:9px}"
    ".grid.small>*{width:6px;height:6px}.set{overflow-wrap:anywhere;font-family:monospace}"
    "#q{margin:.5em 0;padding:.2em;width:20em}td.hot{color:#c62828;font-weight:700}"
    + "".join(f".st-{name}{{background:{color};fill:{color}}}" for name, color in _COLORS.items())
)
# The host filter: cells whose host name (a title's first line) contains the text.
SCRIPT = (
    '(function(){var q=document.getElementById("q"),n=document.getElementById("qn");'
    'var c=document.querySelectorAll(".grid>[title]");q.hidden=false;'
    'q.addEventListener("input",function(){var v=q.value.trim().toLowerCase(),k=0;'
    'for(var i=0;i<c.length;i++){var h=c[i].title.split("\\n")[0].toLowerCase();'
    'var m=!v||h.indexOf(v)>=0;c[i].classList.toggle("off",!m);if(m)k++;}'
    'n.textContent=v?k+" of "+c.length+" hosts match":"";});})();'
)


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


CSP = (
    f"default-src 'none'; style-src {_sha256(STYLE)}; script-src {_sha256(SCRIPT)};"
    " base-uri 'none'; form-action 'none'"
)


def report_html(run: PastRun) -> str:
    """The page of ``run`` (a record read back: complete, cut by a crash, or written by
    an older hostops without timings: what the record lacks, the page says)."""
    f = facts(run)
    title = f"hostops report: {run.id}"
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{attr(CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{text(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{text(title)}</h1>",
        *_summary(f),
        '<p><a href="#hosts">Hosts</a> · <a href="#outputs">Outputs</a> ·'
        ' <a href="#timeline">Timeline</a> · <a href="#durations">Durations</a>'
        + (' · <a href="#recap">Recap</a>' if _is_play(run) else "")
        + "</p>",
        *_hosts(f),
        *_outputs(f),
        *_timeline(f),
        *_durations(f),
        *(recap_section(run.recap) if _is_play(run) else []),
        f'<p class="note">Made by hostops {text(__version__)} from run record {text(run.id)}.'
        " This page loads nothing from anywhere; its only script filters the hosts above."
        "</p>",
        f"<script>{SCRIPT}</script></body></html>\n",
    ]
    return "".join(parts)


def _is_play(run: PastRun) -> bool:
    return run.recap is not None or str(run.header.get("command", "")).startswith("play ")


def _when(value: Any) -> str:
    try:
        at = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "not recorded")
    return f"{at.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def _summary(f: Facts) -> Iterator[str]:
    run, header, end = f.run, f.run.header, f.run.end
    who = header.get("user") or "not recorded"
    where = header.get("controller") or "not recorded"
    argv = header.get("argv")
    rows = [
        ("Command", str(header.get("command", ""))),
        ("Arguments", shlex.join(["hostops", *map(str, argv)]) if isinstance(argv, list) else ""),
        ("Who", f"{who} on {where}"),
        ("When", _when(header.get("started"))),
        ("Duration", seconds(float(end["duration_s"])) if end and end.get("duration_s") else "-"),
        ("Exit code", "-" if end is None else str(end.get("exit_code"))),
        ("Hosts", str(len(f.report.results))),
    ]
    if end is None:
        rows.append(("State", "did not finish: the record has no end line"))
    elif end.get("error"):
        rows.append(("Stopped by", str(end["error"])))
    if end and end.get("interrupted"):
        rows.append(("Interrupted", "yes (Ctrl-C)"))
    if run.missing:
        rows.append(
            ("Not recorded", f"{len(run.missing)} hosts have no result: {fold(run.missing)}")
        )
    yield '<dl class="facts">'
    for name, value in rows:
        yield f"<dt>{name}</dt><dd>{text(value)}</dd>"
    yield "</dl><p>"
    counts = f.report.counts()
    for status in Status:
        if counts[status]:
            yield f'<span class="badge st-{status.value}">{counts[status]} {status.value}</span>'
    changed = [r.changed for r in f.report.results if r.changed is not None]
    if changed:
        yield f" {sum(changed)} changed"
    yield "</p>"


def _cell_title(r: HostResult, group: int | None) -> str:
    how = r.status.value
    if r.exit_code not in (0, None):
        how += f", exit {r.exit_code}"
    elif r.signal:
        how += f", signal {r.signal}"
    lines = [r.host, f"{how} in {seconds(r.duration_s)}"]
    if r.address != r.host:
        lines.append(f"address {r.address}")
    if r.tasks_total is not None:
        lines.append(f"{r.tasks_done} of {r.tasks_total} tasks done")
    if r.error:
        lines.append(" ".join(r.error.split())[:300])
    if group is not None:
        lines.append(f"output: group {group}")
    return "\n".join(lines)


def _hosts(f: Facts) -> Iterator[str]:
    yield '<h2 id="hosts">Hosts by outcome</h2>'
    yield (
        '<input id="q" type="search" placeholder="filter hosts by name" hidden'
        ' aria-label="filter hosts"> <span id="qn" class="note"></span>'
    )
    shown = len(f.outputs) + len(f.listed)
    for outcome in f.outcomes:
        names = [r.host for r in outcome.hosts]
        why = f": {outcome.reason}" if outcome.reason else ""
        hosts = fold(names)
        yield (
            f'<h3><span class="badge st-{outcome.status.value}">{outcome.status.value}</span>'
            f" {len(names)} host{'s' if len(names) != 1 else ''}{text(why)}</h3>"
        )
        if len(hosts) <= _SET_SHOWN:
            yield f'<p class="set">{text(hosts)}</p>'
        else:
            yield f'<details class="set"><summary>the host set</summary>{text(hosts)}</details>'
        small = " small" if len(names) > _SMALL_CELLS else ""
        yield f'<div class="grid{small}">'
        for r in outcome.hosts:
            group = f.group_of.get(r.host)
            kind = f"st-{r.status.value}" + (" miss" if outcome.missing else "")
            title = attr(_cell_title(r, group))
            if group is not None and group <= shown:
                yield f'<a class="{kind}" href="#g{group}" title="{title}"></a>'
            else:
                yield f'<i class="{kind}" title="{title}"></i>'
        yield "</div>"


def _lines(shown: Shown, diff: bool, budget: list[int]) -> str:
    if budget[0] <= 0:
        return (
            '<p class="note">(left out: the page shows at most its share of output;'
            " 'hostops show RUN -o diff' shows all of it)</p>"
        )
    out = []
    for line in shown.lines:
        value = decoded(line)
        budget[0] -= len(value)
        kind = ""
        if diff and not value.startswith(("+++", "---")):
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(value[:1], "")
        out.append(f'<span class="{kind}">{text(value)}</span>' if kind else text(value))
    body = "\n".join(out) or "(no output)"
    more = f"\n… {shown.more} more lines" if shown.more else ""
    return f"<pre{' class=diff' if diff else ''}>{body}{text(more)}</pre>"


def _outputs(f: Facts) -> Iterator[str]:
    yield '<h2 id="outputs">Outputs</h2>'
    if not f.outputs:
        yield '<p class="note">No host ran the command far enough to print anything.</p>'
        return
    yield (
        f'<p class="note">{len(set(f.group_of.values()))} distinct outputs;'
        " the largest group is the majority, every other one is shown as a diff against it."
        " stderr lines are marked <code>! </code>; controls are shown"
        ' <span class="ctl">^[</span> as the terminal views show them.</p>'
    )
    budget = [OUTPUT_BUDGET]
    for out in f.outputs:
        yield from _output(out, budget)
    if f.listed:
        yield "<h3>More outputs (host sets only)</h3><ul>"
        for number, group in enumerate(f.listed, len(f.outputs) + 1):
            yield f'<li id="g{number}">{text(group.label)}</li>'
        yield "</ul>"
    if f.unlisted:
        yield f'<p class="note">… and {f.unlisted} more distinct outputs.</p>'


def _output(out: OutputGroup, budget: list[int]) -> Iterator[str]:
    label = out.group.label + (": the majority" if out.number == 1 else "")
    yield (
        f'<h3 id="g{out.number}"><span class="badge st-{out.group.sample.status.value}">'
        f"{out.number}</span> {text(label)}</h3>"
    )
    if out.diff is None:
        yield _lines(out.output, False, budget)
        return
    if out.diff.lines:
        yield _lines(out.diff, True, budget)
    else:
        yield '<p class="note">Same output as the majority; it ended differently.</p>'
    yield f"<details><summary>its whole output</summary>{_lines(out.output, False, budget)}</details>"


def _timeline(f: Facts) -> Iterator[str]:
    yield '<h2 id="timeline">Timeline</h2>'
    if not f.bars:
        yield (
            '<p class="note">No timings in this record (a record of an older hostops,'
            " or no host started): the durations below are what it has.</p>"
        )
        return
    per = f.bars[0].count if len(f.bars) > 1 else 1
    yield (
        f'<p class="note">A bar per {"host" if per == 1 else f"{per} hosts"}, in the order'
        " they started: lighter while connecting"
        + (
            ""
            if per == 1
            else " (a row of several: lighter from its first start to its last"
            " end, solid from the median start to the median end)"
        )
        + "; ▶ marks a failure; shaded bands are batches; dashed lines are steps (batches,"
        " tasks).</p>"
    )
    duration = float((f.run.end or {}).get("duration_s") or 0.0)
    yield charts.timeline(f.bars, f.run.steps, duration)
    if f.run.steps:
        yield "<ol>"
        for at, what in f.run.steps[: charts.STEP_LABELS]:
            yield f"<li>{text(seconds(at))}: {text(what)}</li>"
        yield "</ol>"
        if len(f.run.steps) > charts.STEP_LABELS:
            yield f'<p class="note">… {len(f.run.steps) - charts.STEP_LABELS} more steps.</p>'
    if f.untimed:
        yield (
            f'<p class="note">Without a timing ({len(f.untimed)}: never started, or not'
            f" recorded): {text(fold(f.untimed))}</p>"
        )


def _durations(f: Facts) -> Iterator[str]:
    yield '<h2 id="durations">Durations</h2>'
    if not f.bins:
        yield '<p class="note">No host ran.</p>'
        return
    yield charts.histogram(f.bins)
    yield "<p>" + ", ".join(f"{k} {text(seconds(v))}" for k, v in f.stats.items()) + "</p>"
    yield "<h3>Slowest hosts</h3><table><tr><th class=l>host</th><th>time</th><th class=l>status</th></tr>"
    for r in f.slowest:
        yield (
            f'<tr><td class="l">{text(r.host)}</td><td>{text(seconds(r.duration_s))}</td>'
            f'<td class="l">{r.status.value}</td></tr>'
        )
    yield "</table>"
