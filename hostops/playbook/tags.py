"""Which tasks ``--tags`` and ``--skip-tags`` select: Ansible's rules, to the letter.

A task's tags are its own and its play's. ``always`` runs whatever ``--tags``
says (but ``--skip-tags always`` skips it); ``never`` runs only when one of the
task's tags is asked for by name. ``--tags all`` (the default) selects every
task but ``never`` ones, ``tagged``/``untagged`` select the tasks with / without
tags, and the same words skip them in ``--skip-tags``. This is Ansible's
``Taggable.evaluate_tags``; tests compare it with ansible-playbook.
"""

from __future__ import annotations

from collections.abc import Collection

ALWAYS = "always"
NEVER = "never"
SPECIAL = ("all", "tagged", "untagged", ALWAYS, NEVER)
_UNTAGGED = frozenset({"untagged"})


def selected(task_tags: Collection[str], only: Collection[str], skip: Collection[str]) -> bool:
    """Whether a task with ``task_tags`` runs under ``--tags only --skip-tags skip``
    (``only`` empty: ``all``)."""
    tags = frozenset(task_tags) or _UNTAGGED
    wanted = frozenset(only) or frozenset({"all"})
    run = (
        ALWAYS in tags
        or ("all" in wanted and NEVER not in tags)
        or not tags.isdisjoint(wanted)
        or ("tagged" in wanted and tags != _UNTAGGED and NEVER not in tags)
    )
    if not run or not skip:
        return run
    skipped = frozenset(skip)
    if "all" in skipped:
        return ALWAYS in tags and ALWAYS not in skipped
    if not tags.isdisjoint(skipped):
        return False
    return not ("tagged" in skipped and tags != _UNTAGGED)
