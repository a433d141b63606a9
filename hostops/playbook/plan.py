"""A playbook bound to an inventory: each play's hosts and batches, every host's variables,
and every name every template uses checked for every host, before anything runs.

Variables, lowest precedence first: the host's inventory ``vars``, the play's
``vars`` (whose strings may be templates over the host's variables), the
caller's ``extra_vars``, results registered by earlier tasks on that host; and
``inventory_hostname`` and ``group_names``, which nothing overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import os
import shlex
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hostops.batches import batches
from hostops.errors import ConfigError
from hostops.inventory.patterns import PatternError, select
from hostops.models import Host
from hostops.playbook import template
from hostops.playbook.model import (
    CommandAction,
    DownloadAction,
    Play,
    Playbook,
    ScriptAction,
    Task,
    TemplateAction,
    UploadAction,
)
from hostops.playbook.results import REGISTERED_FIELDS
from hostops.playbook.tags import selected as tag_selected
from hostops.vault import Vault, Vaulted, bind

RESULT = "result"  # in `until` and `changed_when`: this task's own result


@dataclass(frozen=True)
class PlayPlan:
    """One play bound to its hosts. ``variables[host]`` is that host's context before any
    task registers a result."""

    play: Play
    number: int  # 1-based, in the playbook
    hosts: tuple[Host, ...]
    variables: Mapping[str, Mapping[str, Any]] = field(hash=False)
    # The play's tasks that --tags/--skip-tags select (all of them by default), each with
    # its number in the play.
    tasks: tuple[tuple[int, Task], ...] = ()

    @property
    def batches(self) -> list[tuple[Host, ...]]:
        """The batches if every host stays in the play (failed hosts drop out when it runs)."""
        return batches(self.hosts, self.play.serial)


@dataclass(frozen=True)
class PlaybookPlan:
    """A checked playbook ready to run (or to show with check mode)."""

    playbook: Playbook
    plays: tuple[PlayPlan, ...]

    @property
    def lock(self) -> str | None:
        """The lock its plays name (``lock:``; prepare checks they agree), if any."""
        return next((p.play.lock for p in self.plays if p.play.lock), None)

    @property
    def hosts(self) -> tuple[Host, ...]:
        """Every host some play runs on, in order of first appearance: those to connect to."""
        seen: dict[str, Host] = {}
        for play in self.plays:
            for host in play.hosts:
                seen.setdefault(host.name, host)
        return tuple(seen.values())


def magic_vars(host: Host) -> dict[str, Any]:
    """The variables hostops sets for every host."""
    return {"inventory_hostname": host.name, "group_names": list(host.groups)}


def with_vault(playbook: Playbook, vault: Vault) -> Playbook:
    """``playbook`` with the ``!vault`` values of its plays' ``vars`` bound to ``vault``
    (decrypted when a template uses them), as the inventory's are."""
    plays = tuple(
        dataclasses.replace(p, vars={k: bind(_named(v, k), vault) for k, v in p.vars.items()})
        for p in playbook.plays
    )
    return dataclasses.replace(playbook, plays=plays)


def _named(value: Any, name: str) -> Any:
    """A play's vaulted var knowing its name, for messages."""
    if isinstance(value, Vaulted) and not value.name:
        return dataclasses.replace(value, name=name)
    return value


def prepare(
    playbook: Playbook,
    inventory: Sequence[Host],
    *,
    limit: Collection[str] | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    tags: Collection[str] = (),
    skip_tags: Collection[str] = (),
) -> PlaybookPlan:
    """Bind ``playbook`` to ``inventory`` and check it for every host; raises ConfigError.

    Each play's ``hosts`` pattern is matched against the whole ``inventory``
    (a term that matches nothing is an error, as for ``--limit``), then only
    the hosts in ``limit`` (host names, e.g. from ``--limit``) are kept; a
    play left with no host runs on none. For every host of every play this
    renders the play's vars, checks that every variable a task uses is
    defined (registered names count from the task that registers them on), and
    that the local files of ``put``, ``template`` and ``script`` tasks exist (and
    that templates' files are templates). ``tags``/``skip_tags`` select tasks as
    Ansible's ``--tags``/``--skip-tags`` do (see :mod:`hostops.playbook.tags`);
    handlers are never filtered.
    """
    extra = dict(extra_vars or {})
    names = [h.name for h in inventory]
    by_name = {h.name: h for h in inventory}
    members: dict[str, list[str]] = {"all": names, "ungrouped": []}
    for host in inventory:
        for group in host.groups:
            members.setdefault(group, []).append(host.name)
        if not host.groups:
            members["ungrouped"].append(host.name)
    registered: dict[str, frozenset[str]] = {}  # host -> names registered by earlier plays
    locks = {p.lock for p in playbook.plays if p.lock}
    if len(locks) > 1:
        second = [p for p in playbook.plays if p.lock][1]
        raise ConfigError(
            f"{_play(second)}: lock: the plays name different locks ({', '.join(sorted(locks))}):"
            " one run takes one lock on its hosts",
            path=playbook.path,
            line=second.line,
        )
    plays = []
    for number, play in enumerate(playbook.plays, 1):
        try:
            selected = select(play.hosts, names, members, base_dir=playbook.base_dir)
        except PatternError as exc:
            raise ConfigError(
                f"{_play(play)}: hosts: {exc}", path=playbook.path, line=play.line
            ) from None
        hosts = tuple(by_name[n] for n in selected if limit is None or n in limit)
        variables = {h.name: _context(playbook, play, h, extra) for h in hosts}
        tasks = tuple(
            (n, t) for n, t in enumerate(play.tasks, 1) if tag_selected(t.tags, tags, skip_tags)
        )
        _check_names(playbook, play, [t for _, t in tasks], hosts, variables, registered)
        _check_local_files(playbook, play, hosts, variables)
        plays.append(PlayPlan(play, number, hosts, variables, tasks))
    return PlaybookPlan(playbook, tuple(plays))


def _play(play: Play) -> str:
    return f"play {play.title!r}"


def _task(play: Play, task: Task) -> str:
    return f"{_play(play)}: task {task.title!r}"


def _context(playbook: Playbook, play: Play, host: Host, extra: dict[str, Any]) -> dict[str, Any]:
    magic = magic_vars(host)
    base = {**host.vars, **extra, **magic}
    own = {}
    for key, value in play.vars.items():
        if key in extra:
            continue
        try:
            own[key] = _render_value(value, base)
        except template.TemplateError as exc:
            raise ConfigError(
                f"{_play(play)}: vars: {key}: {exc} (host {host.name})",
                path=playbook.path,
                line=play.line,
            ) from None
    return {**host.vars, **own, **extra, **magic}


def _render_value(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return template.render(value, context)
    if isinstance(value, dict):
        return {k: _render_value(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, context) for v in value]
    return value


def task_templates(task: Task) -> Iterator[tuple[str, str]]:
    """(field, template source) of every templated field of ``task``."""
    action = task.action
    kind = task.kind
    if isinstance(action, CommandAction):
        yield "run", action.command
    elif isinstance(action, ScriptAction):
        yield "script", action.text
    elif isinstance(action, (UploadAction, DownloadAction)):
        yield f"{kind}: src", action.src
        yield f"{kind}: dest", action.dest
    if isinstance(action, UploadAction):
        for key in ("mode", "owner", "group"):
            if getattr(action, key) is not None:
                yield f"{kind}: {key}", getattr(action, key)
    if task.loop_label is not None:
        yield "loop_control: label", task.loop_label
    for key in ("creates", "removes", "cwd"):
        source = getattr(task, key)
        if source is not None:
            yield key, source
    for key, value in task.env:
        yield f"env: {key}", value


def loop_templates(task: Task) -> Iterator[str]:
    """The template sources of ``task``'s ``loop`` (one, or the strings of its list)."""
    if isinstance(task.loop, str):
        yield task.loop
    elif task.loop is not None:
        yield from _strings(list(task.loop))


def loop_names(task: Task) -> frozenset[str]:
    """The names a loop defines for its task's fields: the item and its index."""
    if task.loop is None:
        return frozenset()
    return frozenset({task.loop_var, *([task.index_var] if task.index_var else [])})


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _uses(task: Task) -> list[tuple[str, frozenset[str], frozenset[str]]]:
    """(field, names it reads, names defined for it beyond the host's context)."""
    item = loop_names(task)
    own = frozenset({RESULT, *([task.register] if task.register else [])}) | item
    out = [(f, template.template_names(s).required, item) for f, s in task_templates(task)]
    out += [
        ("loop", template.template_names(s).required, frozenset()) for s in loop_templates(task)
    ]
    out += [("when", template.expression_names(e).required, item) for e in task.when]
    out += [("until", template.expression_names(e).required, own) for e in task.until]
    out += [("changed_when", template.expression_names(e).required, own) for e in task.changed_when]
    return out


def _check_names(
    playbook: Playbook,
    play: Play,
    tasks: Sequence[Task],
    hosts: Sequence[Host],
    variables: Mapping[str, Mapping[str, Any]],
    registered: dict[str, frozenset[str]],
) -> None:
    """Every name every task reads must be defined for every host; the first task at fault
    is reported. Hosts with the same variable names are checked once. Handlers may read
    whatever the play's tasks register."""
    groups: dict[tuple[frozenset[str], frozenset[str]], list[str]] = {}
    for host in hosts:
        known = registered.get(host.name, frozenset())
        groups.setdefault((frozenset(variables[host.name]), known), []).append(host.name)
    here: set[str] = set()  # registered by this play's tasks so far
    everything = {t.register for t in (*tasks, *play.handlers) if t.register}
    checks = [(t, _uses(t), None) for t in tasks] + [
        (h, _uses(h), everything) for h in play.handlers
    ]
    for task, uses, extra in checks:
        if extra is not None:
            here |= extra
        for where, used, own in uses:
            for (defined, known), names in groups.items():
                available = defined | known | here
                missing = sorted(used - available - own)
                if missing:
                    close = difflib.get_close_matches(missing[0], sorted(available | own), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    others = f" and {len(names) - 1} other host(s)" if len(names) > 1 else ""
                    raise ConfigError(
                        f"{_task(play, task)}: {where}: undefined variable {missing[0]!r} "
                        f"for host {names[0]}{others}{hint}",
                        path=playbook.path,
                        line=task.line,
                    )
        _check_fields(playbook, play, task, here | {n for _, known in groups for n in known})
        if task.register:
            here.add(task.register)
    for host in hosts:
        registered[host.name] = registered.get(host.name, frozenset()) | here


def _check_fields(playbook: Playbook, play: Play, task: Task, registered: set[str]) -> None:
    """A registered result's fields are known: reading another (``r.stdot``) is an error."""
    own = {RESULT, *([task.register] if task.register else [])}
    sources = [(where, s, False) for where, s in task_templates(task)]
    sources += [("when", e, True) for e in task.when]
    sources += [(key, e, True) for key in ("until", "changed_when") for e in getattr(task, key)]
    for where, source, expression in sources:
        names = registered | (own if where in ("until", "changed_when") else set())
        for name, attr in sorted(template.fields_read(source, expression)):
            if name in names and attr not in REGISTERED_FIELDS:
                close = difflib.get_close_matches(attr, REGISTERED_FIELDS, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(
                    f"{_task(play, task)}: {where}: registered result {name!r} has no field"
                    f" {attr!r} ({hint}fields: {', '.join(REGISTERED_FIELDS)})",
                    path=playbook.path,
                    line=task.line,
                )


def _check_local_files(
    playbook: Playbook,
    play: Play,
    hosts: Sequence[Host],
    variables: Mapping[str, Mapping[str, Any]],
) -> None:
    """The local file of a put, template or script must exist (checked when its path
    does not depend on a registered result or a loop item, which only the run can
    tell); a template's file must compile as a template and read only defined names
    (those some task registers count as defined)."""
    registers = {t.register for p in playbook.plays for t in (*p.tasks, *p.handlers) if t.register}
    for task in (*play.tasks, *play.handlers):
        action = task.action
        if not isinstance(action, (UploadAction, ScriptAction)):
            continue
        source = action.src if isinstance(action, UploadAction) else action.text
        checked: set[str] = set()
        for host in hosts:
            context = variables[host.name]
            if not template.template_names(source).required <= context.keys():
                break
            try:
                rendered = template.render(source, context)
                if not rendered.strip():
                    continue  # that host alone fails when the task renders it (render.py)
                path = local_path(playbook, task, rendered)
            except (template.TemplateError, ValueError) as exc:
                raise ConfigError(
                    f"{_task(play, task)}: {exc} (host {host.name})",
                    path=playbook.path,
                    line=task.line,
                ) from None
            if path not in checked and not os.path.exists(path):
                raise ConfigError(
                    f"{_task(play, task)}: no such local file or directory: {path} (host {host.name})",
                    path=playbook.path,
                    line=task.line,
                )
            if path not in checked and isinstance(action, TemplateAction):
                used = template.check_template_file(path).required
                missing = sorted(used - context.keys() - loop_names(task) - registers)
                if missing:
                    raise ConfigError(
                        f"{_task(play, task)}: template {path}: undefined variable"
                        f" {missing[0]!r} for host {host.name}",
                        path=playbook.path,
                        line=task.line,
                    )
            checked.add(path)


def local_path(playbook: Playbook, task: Task, rendered: str) -> str:
    """The local file a rendered ``put`` src or ``script`` names, relative to the playbook's
    directory; raises ValueError for a script line that is not valid shell words."""
    if isinstance(task.action, ScriptAction):
        rendered = script_words(rendered)[0]
    return os.path.join(playbook.base_dir, os.path.expanduser(rendered))


def script_words(rendered: str) -> tuple[str, str]:
    """A rendered ``script`` line split into (local path, the rest as shell text)."""
    stream = io.StringIO(rendered)  # what the lexer has not read is the arguments' text
    try:
        lexer = shlex.shlex(stream, posix=True, punctuation_chars=False)
        lexer.whitespace_split = True
        path = lexer.get_token()
    except ValueError as exc:
        raise ValueError(f"script: cannot read {rendered!r}: {exc}") from None
    if not path:
        raise ValueError("script: no script path")
    return path, stream.read().strip()
