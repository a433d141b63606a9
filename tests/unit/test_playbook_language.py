"""The playbook language for real changes, against a scripted executor: loops and their
registered results, handlers, run_once, delegate_to, tags, become, templates; and
their mistakes reported as FILE:LINE at load time."""

from __future__ import annotations

from pathlib import Path

import pytest
from playbook_fakes import FakeExecutor, default_behaviour, failed, hosts, ok, plan_from

from hostops.errors import ConfigError
from hostops.models import Status
from hostops.playbook import (
    Command,
    Operation,
    Outcome,
    Purpose,
    Step,
    Upload,
    check,
    list_hosts,
    list_tasks,
    load_playbook,
    run_playbook,
)
from hostops.playbook.tags import selected

THREE = hosts("h1", "h2", "h3")


def behaving(
    fail: dict[str, set[str]] | None = None, unchanged: set[str] | None = None
) -> FakeExecutor:
    """Hosts in ``fail[task]`` fail it; uploads to hosts in ``unchanged`` change nothing."""

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if step.purpose is Purpose.TASK and host in (fail or {}).get(step.task, set()):
            return failed(2)
        if isinstance(op, Upload) and step.purpose is Purpose.TASK:
            changed = host not in (unchanged or set())
            return Outcome(Status.OK, changed=changed, files=(op.dest,))
        if isinstance(op, Command) and step.purpose is Purpose.TASK:
            return ok(f"{host}:{op.command}\n")
        return default_behaviour(step, host, op)

    return FakeExecutor(behave)


# -- loops -----------------------------------------------------------------------------------
def test_a_loop_runs_each_item_on_every_host_and_registers_results(tmp_path: Path) -> None:
    plan = plan_from(
        tmp_path,
        """
        - hosts: all
          vars:
            extra: [x]
          tasks:
            - name: install
              run: echo {{ pkg }} {{ i }}
              loop: "{{ ['a', 'b'] + extra }}"
              loop_control: {loop_var: pkg, index_var: i, label: "{{ pkg | upper }}"}
              when: pkg != 'b' or inventory_hostname == 'h1'
              register: out
            - name: report
              run: echo {{ out.results | map(attribute='item') | join(',') }} {{ out.changed }}
        """,
        hosts("h1", "h2"),
    )
    executor = behaving(fail={"install": set()})
    result = run_playbook(plan, executor)
    steps = [(s.task, s.item, list(ops)) for s, ops in executor.calls]
    assert steps == [
        ("install", "A", ["h1", "h2"]),
        ("install", "B", ["h1"]),  # h2 skips b: `when` is per item
        ("install", "X", ["h1", "h2"]),
        ("report", None, ["h1", "h2"]),
    ]
    assert executor.commands("h1") == ["echo a 0", "echo b 1", "echo x 2", "echo a,b,x True"]
    h2 = result.plays[0].tasks[0].results[1]
    assert [(r.item, r.status) for r in h2.items or ()] == [
        ("a", Status.OK),
        ("b", Status.SKIPPED),
        ("x", Status.OK),
    ]
    assert h2.status is Status.OK and h2.changed and h2.stdout == b"h2:echo a 0\nh2:echo x 2\n"
    registered = h2.registered()
    assert [r["item"] for r in registered["results"]] == ["a", "b", "x"]  # type: ignore[index]
    assert registered["results"][1]["status"] == "skipped"  # type: ignore[index]


def test_a_failing_item_fails_the_host_after_the_other_items(tmp_path: Path) -> None:
    plan = plan_from(
        tmp_path,
        """
        - hosts: all
          tasks:
            - {name: each, run: "do {{ item }}", loop: [1, 2, 3]}
            - {name: after, run: "next"}
        """,
        THREE,
    )

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if isinstance(op, Command) and host == "h2" and op.command == "do 2":
            return failed(5)
        return default_behaviour(step, host, op)

    executor = FakeExecutor(behave)
    result = run_playbook(plan, executor)
    h2 = result.plays[0].tasks[0].results[1]
    assert h2.status is Status.FAILED and h2.error == "item 2: exit 5"
    assert executor.commands("h2") == ["do 1", "do 2", "do 3"]  # Ansible finishes the items
    assert executor.tasks()[-1] == ("after", ["h1", "h3"])


def test_a_loop_that_gives_no_list_is_that_hosts_error(tmp_path: Path) -> None:
    plan = plan_from(
        tmp_path,
        '- hosts: all\n  tasks:\n    - {run: "x {{ item }}", loop: "{{ things }}"}\n',
        hosts("h1", things="abc") + hosts("h2", things=["a"]),
    )
    result = run_playbook(plan, FakeExecutor())
    bad, good = result.plays[0].tasks[0].results
    assert bad.status is Status.ERROR and bad.error is not None
    assert bad.error.startswith("loop: loop must give a list, not a str")
    assert good.status is Status.OK


# -- handlers --------------------------------------------------------------------------------
HANDLERS = """
- name: web
  hosts: all
  {extra}
  tasks:
    - name: config
      put: {{src: book.yaml, dest: /etc/app.conf}}
      notify: [restart, reload]
    - name: again
      run: touch x
      notify: restart
      changed_when: false
    - name: last
      run: check
  handlers:
    - name: reload
      run: reload app
    - name: restart
      run: restart app
"""


def test_handlers_run_once_at_the_end_in_their_order_where_notified(tmp_path: Path) -> None:
    plan = plan_from(tmp_path, HANDLERS.format(extra=""), THREE)
    executor = behaving(unchanged={"h2"})
    result = run_playbook(plan, executor)
    assert executor.tasks() == [
        ("config", ["h1", "h2", "h3"]),
        ("again", ["h1", "h2", "h3"]),
        ("last", ["h1", "h2", "h3"]),
        ("reload", ["h1", "h3"]),  # defined first, runs first; h2 changed nothing
        ("restart", ["h1", "h3"]),  # notified twice, runs once
    ]
    names = [(t.name, t.handler, len(t.results)) for t in result.plays[0].tasks]
    assert names == [
        ("config", False, 3),
        ("again", False, 3),
        ("last", False, 3),
        ("reload", True, 2),
        ("restart", True, 2),
    ]
    steps = [s for s, _ in executor.calls if s.task == "restart"]
    assert steps[0].handler and steps[0].number == 2


def test_a_host_that_failed_after_notifying_runs_no_handler_unless_forced(
    tmp_path: Path,
) -> None:
    plan = plan_from(tmp_path, HANDLERS.format(extra=""), THREE)
    executor = behaving(fail={"last": {"h1"}})
    run_playbook(plan, executor)
    assert executor.tasks()[-2:] == [("reload", ["h2", "h3"]), ("restart", ["h2", "h3"])]
    forced = behaving(fail={"last": {"h1"}})
    result = run_playbook(plan, forced, force_handlers=True)
    assert forced.tasks()[-2:] == [
        ("reload", ["h1", "h2", "h3"]),
        ("restart", ["h1", "h2", "h3"]),
    ]
    assert result.host_statuses()["h1"] is Status.FAILED  # forced handlers do not undo it
    # The play key does the same as the flag.
    keyed = plan_from(tmp_path, HANDLERS.format(extra="force_handlers: true"), THREE)
    executor = behaving(fail={"last": {"h1"}})
    run_playbook(keyed, executor)
    assert executor.tasks()[-1] == ("restart", ["h1", "h2", "h3"])


def test_flush_handlers_runs_them_at_that_point_and_clears_them(tmp_path: Path) -> None:
    plan = plan_from(
        tmp_path,
        """
        - hosts: all
          serial: 2
          tasks:
            - {name: one, run: a, notify: h}
            - meta: flush_handlers
            - {name: two, run: b, notify: h}
          handlers:
            - {name: h, run: handle, notify: chained}
            - {name: chained, run: chain}
        """,
        THREE,
    )
    executor = FakeExecutor()
    run_playbook(plan, executor)
    assert executor.tasks() == [
        ("one", ["h1", "h2"]),
        ("h", ["h1", "h2"]),
        ("chained", ["h1", "h2"]),  # notified by a handler: runs in the same flush
        ("two", ["h1", "h2"]),
        ("h", ["h1", "h2"]),  # notified again after the flush: runs again at the end
        ("chained", ["h1", "h2"]),
        ("one", ["h3"]),  # handlers run per batch
        ("h", ["h3"]),
        ("chained", ["h3"]),
        ("two", ["h3"]),
        ("h", ["h3"]),
        ("chained", ["h3"]),
    ]


# -- run_once, delegate_to, become -----------------------------------------------------------
def test_run_once_runs_on_the_first_host_of_each_batch_and_registers_everywhere(
    tmp_path: Path,
) -> None:
    plan = plan_from(
        tmp_path,
        """
        - hosts: all
          serial: 2
          tasks:
            - {name: migrate, run: "migrate {{ inventory_hostname }}", run_once: true,
               register: m, delegate_to: localhost}
            - {name: use, run: "echo {{ m.stdout | trim }}"}
        """,
        THREE,
    )
    executor = behaving()
    result = run_playbook(plan, executor)
    assert executor.tasks() == [
        ("migrate", ["h1"]),
        ("use", ["h1", "h2"]),
        ("migrate", ["h3"]),
        ("use", ["h3"]),
    ]
    (op,) = executor.calls[0][1].values()
    assert isinstance(op, Command) and op.on_controller and not op.sudo
    assert executor.commands("h2") == ["echo h1:migrate h1"]
    assert [r.host for r in result.plays[0].tasks[0].results] == ["h1", "h2", "h3"]


def test_become_is_sudo_and_tasks_inherit_the_plays(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(
        """
- hosts: all
  become: true
  become_user: postgres
  tasks:
    - run: psql
    - {run: whoami, become: false}
    - {run: id, sudo_user: app}
    - {get: {src: /etc/x, dest: out}}
"""
    )
    tasks = load_playbook(path).plays[0].tasks
    assert [(t.sudo, t.sudo_user) for t in tasks] == [
        (True, "postgres"),
        (False, None),
        (True, "app"),
        (False, None),  # sudo means nothing to a download
    ]


# -- tags ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tags", "only", "skip", "runs"),
    [
        ((), (), (), True),
        (("never",), (), (), False),
        (("never", "debug"), ("debug",), (), True),
        (("always",), ("web",), (), True),
        (("always",), (), ("always",), False),
        (("always", "web"), (), ("web",), False),
        (("always",), (), ("all",), True),
        (("web",), ("tagged",), (), True),
        ((), ("untagged",), (), True),
        ((), (), ("untagged",), False),
        (("db",), ("web",), (), False),
    ],
)
def test_tag_selection(
    tags: tuple[str, ...], only: tuple[str, ...], skip: tuple[str, ...], runs: bool
) -> None:
    assert selected(tags, only, skip) is runs


def test_tags_select_tasks_and_listings_show_them(tmp_path: Path) -> None:
    text = """
        - name: site
          hosts: all
          tags: web
          tasks:
            - {name: a, run: a, tags: [x]}
            - {name: b, run: b, tags: "y,never"}
            - {name: c, run: c}
        """
    plan = plan_from(tmp_path, text, THREE, tags=["x"])
    assert [t.name for _, t in plan.plays[0].tasks] == ["a"]
    assert list_tasks(plan)[2:] == [
        "",
        "  play #1 (all): site\tTAGS: [web]",
        "    tasks:",
        "      a\tTAGS: [web, x]",
    ]
    plan = plan_from(tmp_path, text, THREE, skip_tags=["x"])
    assert [n for n, _ in plan.plays[0].tasks] == [3]
    assert list_hosts(plan)[-5:] == [
        "    pattern: ['all']",
        "    hosts (3):",
        "      h1",
        "      h2",
        "      h3",
    ]


# -- templates -------------------------------------------------------------------------------
def test_a_template_is_rendered_per_host_and_uploaded_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "app.conf.j2").write_text("name={{ inventory_hostname }} port={{ port }}\n")
    plan = plan_from(
        tmp_path,
        """
        - hosts: all
          vars: {port: 80}
          tasks:
            - template: {src: app.conf.j2, dest: /etc/app.conf, mode: "0600", owner: app,
                         backup: true}
              sudo: true
        """,
        hosts("h1", "h2"),
    )
    seen: dict[str, tuple[str, Upload]] = {}

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if isinstance(op, Upload):
            seen[host] = (Path(op.src).read_text(), op)
            return Outcome(Status.OK, changed=host == "h1", files=(op.dest,))
        if step.purpose is Purpose.PROBE:  # the diff's read: h1 has an older file
            return ok("name=h1 port=8080\n") if host == "h1" else failed(3)
        return default_behaviour(step, host, op)

    result = run_playbook(plan, FakeExecutor(behave), diff=True)
    text, upload = seen["h1"]
    assert text == "name=h1 port=80\n" and Path(upload.src).name == "app.conf.j2"
    assert not Path(upload.src).exists()  # the staged copy is gone
    assert (upload.dest, upload.mode, upload.owner, upload.group) == (
        "/etc/app.conf",
        0o600,
        "app",
        None,
    )
    assert upload.sudo and upload.backup
    h1, h2 = result.plays[0].tasks[0].results
    assert h1.changed and h1.diff is not None
    assert "-name=h1 port=8080\n+name=h1 port=80\n" in h1.diff
    assert not h2.changed and h2.diff is None  # unchanged: nothing to show


def test_check_mode_shows_a_templates_diff_and_what_loops_and_handlers_would_do(
    tmp_path: Path,
) -> None:
    (tmp_path / "motd.j2").write_text("hello {{ inventory_hostname }}\n")
    plan = plan_from(
        tmp_path,
        """
        - name: p
          hosts: all
          tasks:
            - {name: motd, template: {src: motd.j2, dest: /etc/motd}, notify: h}
            - {name: each, run: "echo {{ item }}", loop: [a, b], run_once: true}
          handlers:
            - {name: h, run: reload}
        """,
        hosts("h1", "h2"),
    )

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        assert step.purpose is Purpose.PROBE  # check mode only reads
        return ok("hello h1\n") if host == "h1" else failed(3)

    executor = FakeExecutor(behave)
    lines = "\n".join(check(plan, executor).lines()).splitlines()
    assert len(executor.calls) == 1
    assert lines[1:8] == [
        "  h1",
        "    1. motd: run (if changed, notifies 'h')",
        f"         template: {tmp_path / 'motd.j2'} -> /etc/motd",
        "         (no change)",
        "    2. each: run (2 items; run_once: for the batch, from h1)",
        "         [a] run: echo a",
        "         [b] run: echo b",
    ]
    assert lines[8] == "    handler 1 h: unknown (runs if task 1 changes something)"
    h2 = lines[lines.index("  h2") :]
    assert h2[3:6] == [
        "         --- /dev/null",
        "         +++ /etc/motd (after)",
        "         @@ -0,0 +1 @@",
    ]
    assert "    2. each: skip (run_once: on h1)" in h2


# -- mistakes --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- hosts: all\n  tasks:\n    - {run: x, notify: restrat}\n  handlers:\n"
            "    - {name: restart, run: y}\n",
            "3: play 1: task 'run: x': notify: no handler named 'restrat' (did you mean "
            "'restart'?); this play's handlers: 'restart'",
        ),
        (
            "- hosts: all\n  tasks: []\n  handlers:\n    - run: y\n",
            "4: handler 1 of play 1 needs a name: tasks notify handlers by name",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      with_items: [1]\n",
            "4: task 1: with_items is not supported: write loop: instead",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      loop: abc\n",
            "4: task 1: loop must be a list or a template giving one",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      loop_control: {loop_var: y}\n",
            "4: task 1: loop_control needs loop",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      loop: [1]\n      loop_control: {lable: y}\n",
            "5: unknown key 'lable' in task 1: loop_control (did you mean 'label'?",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      delegate_to: web01\n",
            "4: task 1: delegate_to: only 'localhost' (the controller) is supported, not 'web01'",
        ),
        (
            "- hosts: all\n  tasks:\n    - put: {src: a, dest: b}\n      delegate_to: localhost\n",
            "4: task 1: delegate_to applies to run tasks, not put",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      sudo: true\n      become: true\n",
            "5: task 1: become is sudo spelled the Ansible way: give one of them",
        ),
        (
            "- hosts: all\n  tasks:\n    - template: {src: a, dest: b, owner: x}\n",
            "3: task 1: template: owner and group need sudo: true (or become: true)",
        ),
        (
            "- hosts: all\n  tasks:\n    - meta: flush_handler\n",
            "3: task 1: meta: unknown 'flush_handler' (did you mean 'flush_handlers'?",
        ),
        (
            "- hosts: all\n  tasks:\n    - {meta: flush_handlers, when: x}\n",
            "3: task 1: when does not apply to meta (only name and tags do)",
        ),
        (
            "- hosts: all\n  lock: 'a b'\n  tasks: []\n",
            "2: play 1: lock: 'a b' is not a lock name",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      tags: [a, '']\n",
            "4: task 1: tags: expected a name or a list of names",
        ),
    ],
)
def test_mistakes_in_the_new_keys_are_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_playbook(path)
    assert str(err.value).startswith(f"{path}:{message}"), str(err.value)


def test_undefined_names_in_loops_and_template_files_are_caught_before_anything_runs(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match=r"book.yaml:3: .*loop: undefined variable 'pkgs'"):
        plan_from(
            tmp_path,
            '- hosts: all\n  tasks:\n    - {run: "x {{ item }}", loop: "{{ pkgs }}"}\n',
            THREE,
        )
    with pytest.raises(ConfigError, match=r"run: undefined variable 'itme' .*did you mean 'item'"):
        plan_from(
            tmp_path, '- hosts: all\n  tasks:\n    - {run: "x {{ itme }}", loop: [1]}\n', THREE
        )
    (tmp_path / "t.j2").write_text("a\n{% if x %}\n")
    with pytest.raises(ConfigError, match=r"t.j2:2: bad template: Unexpected end of template"):
        plan_from(
            tmp_path, "- hosts: all\n  tasks:\n    - template: {src: t.j2, dest: /x}\n", THREE
        )
    (tmp_path / "t.j2").write_text("{{ prot }}\n")
    with pytest.raises(
        ConfigError, match=r"book.yaml:3: .*template .*t.j2: undefined variable 'prot'"
    ):
        plan_from(
            tmp_path, "- hosts: all\n  tasks:\n    - template: {src: t.j2, dest: /x}\n", THREE
        )
