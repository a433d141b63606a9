"""What Tab offers for option values that are names: hosts and groups of the inventory
(``--limit``, ``--host``), recorded runs (``show``, ``--from-run``), statuses
(``--rerun``). Click's shell completion calls these with the command line typed so far
(``hostops completion``).

Completing never connects anywhere, asks for nothing and runs nothing: the inventory
is read from its static files (YAML, INI, directories of them) only; a dynamic
inventory script is run only when ``$HOSTOPS_COMPLETE_DYNAMIC`` is ``1`` (README,
"Completion"); a vaulted or broken inventory offers nothing. Errors offer nothing.

Imported by hostops.cli.options: nothing but the standard library at the top; what
reads inventories and records is imported when Tab is pressed.

No ``from __future__ import annotations``: typer reads these functions' annotations
(the context, the word typed) to call them.
"""

import os

import typer

DYNAMIC_ENV = "HOSTOPS_COMPLETE_DYNAMIC"
_PATTERN_SEPARATORS = ",:"  # between the terms of a --limit pattern
_TERM_PREFIXES = "&!"  # a term's own operator: intersection, exclusion


def limit_words(ctx: typer.Context, incomplete: str) -> list[str]:
    """``--limit``: the hosts and groups of the inventory, for the pattern's last term."""
    head, term = _last_term(incomplete)
    if term[:1] in ("@", "~"):  # a file of names, a regular expression: nothing to offer
        return []
    return [head + n for n in inventory_names(ctx, groups=True) if n.startswith(term)]


def host_words(ctx: typer.Context, incomplete: str) -> list[str]:
    """``--host``: the inventory's hosts, for the list's last name."""
    head, _sep, name = incomplete.rpartition(",")
    prefix = head + "," if _sep else ""
    return [prefix + n for n in inventory_names(ctx, groups=False) if n.startswith(name)]


def _last_term(text: str) -> tuple[str, str]:
    """``web:&pro`` -> (``web:&``, ``pro``): what stays, and the term being typed."""
    cut = max(text.rfind(s) for s in _PATTERN_SEPARATORS) + 1
    while cut < len(text) and text[cut] in _TERM_PREFIXES:
        cut += 1
    return text[:cut], text[cut:]


def inventory_names(ctx: typer.Context | None, *, groups: bool) -> list[str]:
    """The hosts (and with ``groups``, the groups) of the inventory the command line
    typed so far would use (``--hosts``, else the configuration file's, else
    ``$HOSTOPS_INVENTORY``), read from static sources only; [] on any error."""
    params = ctx.params if ctx is not None else {}
    sources = [os.fspath(p) for p in params.get("hosts") or ()]
    if not sources:
        listed = os.environ.get("HOSTOPS_INVENTORY", "")
        sources = [p.strip() for p in listed.split(",") if p.strip()]
    try:
        from hostops.errors import HostopsError
        from hostops.inventory import build, load_raw
        from hostops.inventory.script import is_script
        from hostops.inventory.sources import source_files

        files = [
            f
            for f in source_files([os.path.expanduser(s) for s in sources])
            if os.environ.get(DYNAMIC_ENV) == "1" or not is_script(f)
        ]
        if not files:
            return []
        inventory = build(load_raw(files))
    except (HostopsError, OSError, ValueError):
        return []
    names = list(inventory.names)
    if groups:
        names += [g for g in inventory.members if g not in names]
    return names


def run_words(ctx: typer.Context, incomplete: str) -> list[str]:
    """``show RUN``, ``--from-run``: ``last``, then the recorded runs' ids, newest first."""
    try:
        from hostops.errors import HostopsError
        from hostops.journal import list_runs

        ids = [p.name.removesuffix(".jsonl") for p in reversed(list_runs())]
    except (HostopsError, OSError):
        ids = []
    return [w for w in ("last", *ids) if w.startswith(incomplete)]


def status_words(ctx: typer.Context, incomplete: str) -> list[str]:
    """``--rerun``: ``failed`` and the statuses, for the list's last word."""
    from hostops.journal import FAILED_ALIAS
    from hostops.models import Status

    head, sep, word = incomplete.rpartition(",")
    prefix = head + "," if sep else ""
    words = dict.fromkeys((FAILED_ALIAS, *(s.value for s in Status)))  # 'failed' is both
    return [prefix + w for w in words if w.startswith(word)]
