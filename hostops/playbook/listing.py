"""``--list-tasks`` and ``--list-hosts``: what a run would touch, in the layout of
``ansible-playbook --list-tasks/--list-hosts`` (tests compare the two), running nothing.

Tasks are those ``--tags``/``--skip-tags`` select; a task without a name shows
its action's text. Hosts are those each play would run on (``--limit`` applied).
"""

from __future__ import annotations

from hostops.playbook.plan import PlaybookPlan


def _play_line(plan: PlaybookPlan, index: int) -> str:
    play = plan.plays[index].play
    return f"  play #{index + 1} ({play.hosts}): {play.title}\tTAGS: [{','.join(play.tags)}]"


def list_tasks(plan: PlaybookPlan) -> list[str]:
    """Per play, the tasks that would run (with every tag each has, its play's included)."""
    out = ["", f"playbook: {plan.playbook.path}"]
    for index, play in enumerate(plan.plays):
        out += ["", _play_line(plan, index), "    tasks:"]
        for _, task in play.tasks:
            out.append(f"      {task.title}\tTAGS: [{', '.join(sorted(task.tags))}]")
    return out


def list_hosts(plan: PlaybookPlan) -> list[str]:
    """Per play, its host pattern and the hosts it would run on."""
    out = ["", f"playbook: {plan.playbook.path}"]
    for index, play in enumerate(plan.plays):
        out += ["", _play_line(plan, index)]
        out.append(f"    pattern: [{play.play.hosts!r}]")
        out.append(f"    hosts ({len(play.hosts)}):")
        out += [f"      {h.name}" for h in play.hosts]
    return out
