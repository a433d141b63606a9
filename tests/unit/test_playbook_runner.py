"""The runner's rules, against a scripted executor: order, batches, max_fail, drop-out,
when/register/retries/until/changed_when/ignore_errors/creates/removes, scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from playbook_fakes import FakeExecutor, default_behaviour, failed, hosts, ok, plan_from

from hostops.models import Status
from hostops.playbook import (
    Command,
    Download,
    Operation,
    Outcome,
    Purpose,
    Step,
    Upload,
    run_playbook,
)
from hostops.playbook.render import compose_command, probe_command

FIVE = hosts("h1", "h2", "h3", "h4", "h5")


def fail_on(bad: dict[str, set[str]]) -> FakeExecutor:
    """Hosts in ``bad[task title]`` fail that task; everything else succeeds."""

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if step.purpose is Purpose.TASK and host in bad.get(step.task, set()):
            return failed(3)
        return default_behaviour(step, host, op)

    return FakeExecutor(behave)


def test_every_task_ends_on_every_host_of_a_batch_before_the_next_starts(tmp_path: Path) -> None:
    plan = plan_from(
        tmp_path,
        """
        - name: roll
          hosts: all
          serial: 2
          tasks:
            - {name: stop, run: stop}
            - {name: start, run: start}
        """,
        FIVE,
    )
    executor = FakeExecutor()
    result = run_playbook(plan, executor)
    assert executor.tasks() == [
        ("stop", ["h1", "h2"]),
        ("start", ["h1", "h2"]),
        ("stop", ["h3", "h4"]),
        ("start", ["h3", "h4"]),
        ("stop", ["h5"]),
        ("start", ["h5"]),
    ]
    play = result.plays[0]
    assert play.batches == (("h1", "h2"), ("h3", "h4"), ("h5",))
    assert [(t.name, t.changed, t.ok, t.failed, t.skipped) for t in play.tasks] == [
        ("stop", 5, 0, 0, 0),  # a run counts as changed
        ("start", 5, 0, 0, 0),
    ]
    assert result.stopped is None and result.host_statuses() == dict.fromkeys(
        ["h1", "h2", "h3", "h4", "h5"], Status.OK
    )
    # Each host is let go once, after its batch (no later play needs it).
    assert executor.finished_hosts == ["h1", "h2", "h3", "h4", "h5"]


def test_failures_beyond_max_fail_stop_the_play_and_every_later_batch(tmp_path: Path) -> None:
    text = """
        - name: roll
          hosts: all
          serial: 2
          max_fail: {max_fail}
          tasks:
            - {{name: stop, run: stop}}
            - {{name: start, run: start}}
        - hosts: all
          tasks: [{{name: after, run: after}}]
        """
    # 50% of 2 = 1 failure tolerated: h3 failing alone does not stop the rollout.
    executor = fail_on({"stop": {"h3"}})
    result = run_playbook(plan_from(tmp_path, text.format(max_fail="50%"), FIVE), executor)
    assert result.stopped is None
    assert ("start", ["h4"]) in executor.tasks()  # h3 dropped out, h4 went on
    assert ("after", ["h1", "h2", "h4", "h5"]) in executor.tasks()  # and out of later plays

    # 0 tolerated: the first failure stops the play where it is.
    executor = fail_on({"stop": {"h3"}})
    result = run_playbook(plan_from(tmp_path, text.format(max_fail=0), FIVE), executor)
    assert executor.tasks() == [
        ("stop", ["h1", "h2"]),
        ("start", ["h1", "h2"]),
        ("stop", ["h3", "h4"]),  # h4 finished this task, but nothing more ran
    ]
    play = result.plays[0]
    assert play.stopped == ("play 'roll': 1 of 2 hosts failed in batch 2 (max_fail 0: at most 0)")
    assert result.stopped == play.stopped and len(result.plays) == 1  # no later play
    assert play.not_run == ("h5",) and play.batches == (("h1", "h2"), ("h3", "h4"))
    statuses = result.host_statuses()
    # h4 ran 1 of its 3 tasks (2 in this play, 1 in the next): incomplete, not ok;
    # h5 never started because the rollout stopped: not_run, not skipped; h1 and h2
    # did this play but not the next one, which the stop left out: incomplete too.
    assert statuses == {
        "h1": Status.INCOMPLETE,
        "h2": Status.INCOMPLETE,
        "h3": Status.FAILED,
        "h4": Status.INCOMPLETE,
        "h5": Status.NOT_RUN,
    }
    assert result.tasks_done() == {
        "h1": (2, 3),
        "h2": (2, 3),
        "h3": (0, 3),
        "h4": (1, 3),
        "h5": (0, 3),
    }
    assert sorted(executor.finished_hosts) == ["h1", "h2", "h3", "h4", "h5"]


def test_hosts_a_condition_left_alone_are_skipped_and_complete_hosts_ok(tmp_path: Path) -> None:
    text = """
        - hosts: all
          tasks:
            - {name: a, run: a, when: "n != 0"}
            - {name: b, run: b, when: "n > 1"}
        """
    result = run_playbook(plan_from(tmp_path, text, hosts("h0", "h1", "h2")), FakeExecutor())
    assert result.host_statuses() == {"h0": Status.SKIPPED, "h1": Status.OK, "h2": Status.OK}


def test_without_max_fail_only_a_whole_failed_batch_stops_the_play(tmp_path: Path) -> None:
    text = """
        - hosts: all
          serial: 2
          tasks: [{name: t, run: x}]
        """
    result = run_playbook(plan_from(tmp_path, text, FIVE), fail_on({"t": {"h1", "h3"}}))
    assert result.stopped is None and result.plays[0].tasks[0].failed == 2
    result = run_playbook(plan_from(tmp_path, text, FIVE), fail_on({"t": {"h3", "h4"}}))
    assert result.stopped == "play 'all': every host of batch 2 failed"
    assert result.plays[0].not_run == ("h5",)


def test_a_failed_host_drops_out_unless_errors_are_ignored(tmp_path: Path) -> None:
    text = """
        - hosts: all
          tasks:
            - {name: a, run: a, ignore_errors: true}
            - {name: b, run: b, register: b_out}
            - {name: c, run: "echo {{ b_out.status }}"}
        """
    executor = fail_on({"a": {"h1"}, "b": {"h2"}})
    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2", "h3")), executor)
    assert executor.tasks() == [
        ("a", ["h1", "h2", "h3"]),
        ("b", ["h1", "h2", "h3"]),
        ("c", ["h1", "h3"]),
    ]
    a, b, _c = result.plays[0].tasks
    assert (a.failed, a.ignored, a.changed) == (1, 1, 2)
    assert a.results[0].ignored and a.results[0].error == "exit 3"
    assert (b.failed, b.ignored) == (1, 0)
    assert result.host_statuses() == {"h1": Status.OK, "h2": Status.FAILED, "h3": Status.OK}
    assert executor.commands("h1")[-1] == "echo ok"


def test_when_register_and_skipped_results(tmp_path: Path) -> None:
    text = """
        - hosts: all
          tasks:
            - {name: probe, run: cat /etc/role, register: role}
            - {name: web only, run: "echo {{ role.stdout | quote }}", when: "role.stdout == 'web'", register: w}
            - name: after
              run: "echo {{ w.status }} {{ w.rc }} {{ w.changed }}"
              when: [w.status == 'skipped', n < 5]
        """

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if step.task == "probe":
            return ok("web" if host == "h1" else "db")
        return ok(f"out of {host}")

    executor = FakeExecutor(behave)
    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2")), executor)
    assert executor.commands("h1") == ["cat /etc/role", "echo web"]
    assert executor.commands("h2") == ["cat /etc/role", "echo skipped None False"]
    _, web, after = result.plays[0].tasks
    assert (web.changed, web.skipped) == (1, 1)
    assert web.results[1].status is Status.SKIPPED and web.results[1].skip_reason == "when is false"
    assert web.results[1].attempts == 0
    assert (after.changed, after.skipped) == (1, 1)


def test_retries_until_and_delay(tmp_path: Path) -> None:
    text = """
        - hosts: all
          tasks:
            - name: wait
              run: check
              retries: 3
              delay: 2
              until: "'ready' in result.stdout"
              register: health
            - {name: after, run: "echo {{ health.stdout }}"}
        """
    tries: dict[str, int] = {}

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if step.task != "wait":
            return ok()
        tries[host] = tries.get(host, 0) + 1
        assert step.attempt == tries[host]
        ready = {"h1": 1, "h2": 3}.get(host, 99)  # h3 never gets ready
        return ok("ready" if tries[host] >= ready else "starting")

    slept: list[float] = []
    executor = FakeExecutor(behave)
    result = run_playbook(
        plan_from(tmp_path, text, hosts("h1", "h2", "h3")), executor, sleep=slept.append
    )
    assert tries == {"h1": 1, "h2": 3, "h3": 4}  # 1 + retries at most
    assert executor.tasks()[:4] == [
        ("wait", ["h1", "h2", "h3"]),
        ("wait", ["h2", "h3"]),  # only the hosts still waiting, together
        ("wait", ["h2", "h3"]),
        ("wait", ["h3"]),
    ]
    assert slept == [2.0, 2.0, 2.0]
    wait = result.plays[0].tasks[0]
    assert [(r.host, r.status, r.attempts) for r in wait.results] == [
        ("h1", Status.OK, 1),
        ("h2", Status.OK, 3),
        ("h3", Status.FAILED, 4),
    ]
    assert wait.results[2].error == "until still false after 4 attempts"
    assert executor.commands("h2")[-1] == "echo ready"


def test_retries_without_until_retry_failures_only(tmp_path: Path) -> None:
    text = "- hosts: all\n  tasks:\n    - {name: t, run: x, retries: 2, delay: 0}\n"
    calls: list[str] = []

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        calls.append(host)
        if host == "h2":
            return Outcome(Status.UNREACHABLE, error="connection refused")  # not retried
        return failed() if calls.count(host) < 2 else ok()

    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2")), FakeExecutor(behave))
    assert calls == ["h1", "h2", "h1"]
    assert [(r.status, r.attempts) for r in result.plays[0].tasks[0].results] == [
        (Status.OK, 2),
        (Status.UNREACHABLE, 1),
    ]
    assert result.host_statuses()["h2"] is Status.UNREACHABLE


def test_changed_when_and_transfers(tmp_path: Path) -> None:
    (tmp_path / "app.conf").write_text("x")
    text = """
        - hosts: all
          tasks:
            - {name: look, run: x, changed_when: false}
            - {name: install, run: x, changed_when: "'installed' in result.stdout"}
            - {name: conf, put: {src: app.conf, dest: /etc/app.conf, mode: "06{{ n }}0"}}
            - {name: fetch, get: {src: /etc/app.conf, dest: out}, changed_when: true}
        """

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if isinstance(op, Upload):
            return Outcome(Status.OK, changed=host == "h1", files=(op.dest,))
        if isinstance(op, Download):
            return Outcome(Status.OK, changed=False)
        return ok("installed" if host == "h2" else "already there")

    executor = FakeExecutor(behave)
    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2")), executor)
    look, install, conf, fetch = result.plays[0].tasks
    assert (look.ok, look.changed) == (2, 0)
    assert [r.changed for r in install.results] == [False, True]
    assert [r.changed for r in conf.results] == [True, False]  # a put: when content differed
    assert (fetch.changed, fetch.ok) == (2, 0)
    uploads = next(ops for step, ops in executor.calls if step.task == "conf")
    assert uploads["h1"] == Upload(str(tmp_path / "app.conf"), "/etc/app.conf", 0o600)
    assert uploads["h2"] == Upload(str(tmp_path / "app.conf"), "/etc/app.conf", 0o610)
    downloads = next(ops for step, ops in executor.calls if step.task == "fetch")
    assert downloads["h1"] == Download(
        "/etc/app.conf", str(Path.cwd() / "out")
    )  # not the book's dir


def test_creates_and_removes_skip_after_a_probe(tmp_path: Path) -> None:
    text = """
        - hosts: all
          tasks:
            - {name: init, run: init-db, creates: "/var/lib/{{ inventory_hostname }}/db", removes: /tmp/go}
        """
    said = {"h1": ok("creates"), "h2": ok("removes"), "h3": failed(1), "h4": failed(2)}

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if step.purpose is Purpose.PROBE:
            assert isinstance(op, Command)
            assert op.command == probe_command(f"/var/lib/{host}/db", "/tmp/go")
            return said[host]
        return ok()

    executor = FakeExecutor(behave)
    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2", "h3", "h4")), executor)
    assert executor.tasks() == [("init", ["h3"])]
    init = result.plays[0].tasks[0]
    assert [(r.status, r.skip_reason) for r in init.results[:2]] == [
        (Status.SKIPPED, "creates: /var/lib/h1/db exists"),
        (Status.SKIPPED, "removes: /tmp/go does not exist"),
    ]
    assert init.results[2].status is Status.OK
    assert init.results[3].status is Status.FAILED
    assert init.results[3].error == "creates/removes check failed: exit 2"


def test_the_probe_is_a_real_shell_check(tmp_path: Path) -> None:
    import subprocess

    there = tmp_path / "there"
    there.write_text("")
    cases = [
        ((str(there), None), 0, "creates"),
        ((str(tmp_path / "absent"), None), 1, ""),
        ((None, str(tmp_path / "absent")), 0, "removes"),
        ((None, str(there)), 1, ""),
        ((str(tmp_path / "it's here"), str(there)), 1, ""),
    ]
    for (creates, removes), rc, out in cases:
        r = subprocess.run(
            ["sh", "-c", probe_command(creates, removes)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (r.returncode, r.stdout.strip()) == (rc, out)


def test_env_and_cwd_are_quoted_into_the_command(tmp_path: Path) -> None:
    text = """
        - hosts: all
          tasks:
            - run: ./deploy
              cwd: "/srv/{{ inventory_hostname }}"
              env: {MSG: "it's {{ n }}", LEVEL: 3}
        """
    executor = FakeExecutor()
    run_playbook(plan_from(tmp_path, text, hosts("h1")), executor)
    assert executor.commands("h1") == [
        "cd -- /srv/h1 || exit\nexport MSG='it'\"'\"'s 0' LEVEL=3\n./deploy"
    ]


def test_compose_command_runs_as_said(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "a b").mkdir()
    command = compose_command(
        'echo "$PWD|$X"', (("X", "$(touch pwned) it's"),), str(tmp_path / "a b")
    )
    r = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert r.stdout == f"{tmp_path / 'a b'}|$(touch pwned) it's\n"
    assert not (tmp_path / "a b" / "pwned").exists()
    # A directory that does not exist stops the command before it runs.
    command = compose_command("echo ran", (), str(tmp_path / "nope"))
    r = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    assert r.returncode != 0 and r.stdout == ""


def test_a_script_is_uploaded_run_and_removed(tmp_path: Path) -> None:
    (tmp_path / "fix.sh").write_text("#!/bin/sh\necho fixed\n")
    text = """
        - hosts: all
          tasks:
            - {name: fix, script: "fix.sh --host {{ inventory_hostname | quote }}", sudo: true, cwd: /tmp}
        """

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if step.purpose is Purpose.UPLOAD and host == "h2":
            return Outcome(Status.FAILED, error="upload to x: permission denied")
        return default_behaviour(step, host, op)

    executor = FakeExecutor(behave)
    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2")), executor)
    purposes = [(s.purpose, list(ops)) for s, ops in executor.calls]
    assert purposes == [
        (Purpose.UPLOAD, ["h1", "h2"]),
        (Purpose.TASK, ["h1"]),
        (Purpose.CLEANUP, ["h1"]),
    ]
    upload = executor.calls[0][1]["h1"]
    assert isinstance(upload, Upload)
    assert upload.src == str(tmp_path / "fix.sh") and upload.mode == 0o700
    assert upload.dest.startswith(".hostops-") and upload.dest.endswith("-fix.sh")
    remote = f"/home/u/{upload.dest}"
    run = executor.calls[1][1]["h1"]
    assert run == Command(f"cd -- /tmp || exit\n{remote} --host h1", sudo=True)
    assert executor.calls[2][1]["h1"] == Command(f"rm -f -- {remote}")
    fix = result.plays[0].tasks[0]
    assert [(r.status, r.error) for r in fix.results] == [
        (Status.OK, None),
        (Status.FAILED, "script upload failed: upload to x: permission denied"),
    ]


def test_a_template_failing_on_one_host_fails_only_that_host(tmp_path: Path) -> None:
    text = """
        - hosts: all
          tasks:
            - {name: look, run: x, register: out}
            - {name: use, run: "echo {{ out.stdout.split()[1] }}"}
        """

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        return ok("a b" if host == "h1" else "a")

    executor = FakeExecutor(behave)
    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2")), executor)
    use = result.plays[0].tasks[1]
    assert use.results[0].status is Status.OK
    assert use.results[1].status is Status.ERROR
    assert use.results[1].error.startswith(  # type: ignore[union-attr]
        f"{tmp_path / 'book.yaml'}:5: run: list object has no element 1"
    )
    assert executor.tasks()[-1] == ("use", ["h1"])


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ('{name: t, run: "{{ cmd }}"}', "run"),
        ('{name: t, run: "{{ cmd }}  "}', "run"),
        ('{name: t, script: "{{ cmd }}"}', "script"),
        ('{name: t, put: {src: "{{ cmd }}", dest: /tmp/x}}', "put: src"),
        ('{name: t, template: {src: "{{ cmd }}", dest: /tmp/x}}', "template: src"),
        ('{name: t, put: {src: f, dest: "{{ cmd }}"}}', "put: dest"),
        ('{name: t, get: {src: "{{ cmd }}", dest: out}}', "get: src"),
        ('{name: t, get: {src: /etc/hostname, dest: "{{ cmd }}"}}', "get: dest"),
    ],
)
def test_a_required_field_rendering_to_nothing_fails_the_host_instead_of_acting(
    tmp_path: Path, task: str, field: str
) -> None:
    """An unset value ("" from vars or ``default('')``) must not run an empty command
    (which succeeds), upload the playbook's directory or copy the home directory: the
    host fails, naming the field, and nothing runs on it."""
    for name in ("f", "ok"):
        (tmp_path / name).write_text("x")
    text = f"""
        - hosts: all
          vars: {{cmd: "{{{{ '' if n == 0 else 'ok' }}}}"}}
          tasks:
            - {task}
        """
    executor = FakeExecutor()
    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2")), executor)
    first, second = result.plays[0].tasks[0].results
    assert first.status is Status.ERROR
    source = "{{ cmd }}" + ("  " if "}}  " in task else "")
    assert first.error == (  # type: ignore[union-attr]
        f"{tmp_path / 'book.yaml'}:5: {field}: {source!r} renders to nothing"
    )
    assert second.status is not Status.ERROR
    assert {h for _, hs in executor.tasks() for h in hs} == {"h2"}


def test_an_optional_field_rendering_to_nothing_is_not_given(tmp_path: Path) -> None:
    """``"{{ x | default('') }}"`` is how a task leaves cwd, creates, removes, mode, owner
    and group out for some hosts (there is no ``omit``), as Ansible's modules read an
    empty chdir, creates or owner; an env value may be empty."""
    (tmp_path / "f").write_text("x")
    text = """
        - hosts: all
          tasks:
            - name: r
              run: x
              cwd: "{{ d | default('') }}"
              creates: "{{ c | default('') }}"
              removes: "{{ c | default('') }}"
              env: {EMPTY: "{{ '' }}"}
            - name: p
              put: {src: f, dest: /tmp/x, mode: "{{ m | default('') }}", owner: "{{ o | default('') }}", group: "{{ o | default('') }}"}
              sudo: true
        """
    executor = FakeExecutor()
    result = run_playbook(plan_from(tmp_path, text, hosts("h1")), executor)
    assert [t.results[0].status for t in result.plays[0].tasks] == [Status.OK, Status.OK]
    (run_op,), (put_op,) = (
        list(ops.values()) for step, ops in executor.calls if step.purpose is Purpose.TASK
    )
    assert isinstance(run_op, Command) and run_op.command == "export EMPTY=''\nx"
    assert isinstance(put_op, Upload)
    assert (put_op.mode, put_op.owner, put_op.group) == (None, None, None)


def test_an_interrupted_host_stops_the_playbook(tmp_path: Path) -> None:
    text = """
        - hosts: all
          serial: 1
          tasks: [{name: a, run: a}, {name: b, run: b}]
        """

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        return Outcome(Status.INTERRUPTED, error="interrupted")

    result = run_playbook(plan_from(tmp_path, text, hosts("h1", "h2")), FakeExecutor(behave))
    assert result.interrupted and result.stopped == "interrupted"
    assert result.plays[0].not_run == ("h2",)
    # Ctrl-C is `interrupted` for every host it left unfinished, started or not, as in run.
    assert result.host_statuses() == {"h1": Status.INTERRUPTED, "h2": Status.INTERRUPTED}


def test_hosts_are_released_after_their_last_play(tmp_path: Path) -> None:
    text = """
        - hosts: all
          serial: 1
          tasks: [{run: a}]
        - hosts: h2
          tasks: [{run: b}]
        """
    executor = FakeExecutor()
    run_playbook(plan_from(tmp_path, text, hosts("h1", "h2", "h3")), executor)
    assert executor.finished_hosts == ["h1", "h3", "h2"]


@pytest.mark.parametrize("kind", ["run", "put"])
def test_an_executor_that_forgets_a_host_fails_that_host(tmp_path: Path, kind: str) -> None:
    (tmp_path / "f").write_text("")
    task = "{run: x}" if kind == "run" else "{put: {src: f, dest: g}}"

    class Forgetful(FakeExecutor):
        def execute(self, step: Step, operations):  # type: ignore[no-untyped-def,override]
            return {}

    result = run_playbook(
        plan_from(tmp_path, f"- hosts: all\n  tasks: [{task}]\n", hosts("h1")), Forgetful()
    )
    r = result.plays[0].tasks[0].results[0]
    assert (r.status, r.error) == (Status.ERROR, "the executor reported no outcome for this host")


def test_registered_output_loses_its_trailing_newlines_and_has_lines(tmp_path: Path) -> None:
    """As Ansible: stdout/stderr without trailing newlines (rstrip('\\r\\n')), and
    stdout_lines/stderr_lines, so `when: r.stdout == 'hi'` is true for `echo hi`."""
    text = """
        - hosts: all
          tasks:
            - {name: say, run: x, register: r}
            - {name: same, run: "echo {{ r.stdout_lines | length }} {{ r.stderr_lines }}", when: "r.stdout == 'hi\\n  there'"}
        """

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if step.task == "say":
            return Outcome(Status.OK, exit_code=0, stdout=b"hi\n  there\r\n\n", stderr=b"w\n")
        return default_behaviour(step, host, op)

    executor = FakeExecutor(behave)
    result = run_playbook(plan_from(tmp_path, text, hosts("h1")), executor)
    assert result.plays[0].tasks[1].results[0].status is Status.OK  # `when` was true
    assert executor.commands("h1") == ["x", "echo 2 ['w']"]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_disk_usage_example_takes_its_threshold_from_the_command_line(tmp_path: Path) -> None:
    """-e values are strings, as in Ansible: the example converts (warn_at | int)."""
    from hostops.playbook import load_playbook, prepare

    def behave(step: Step, host: str, op: Operation) -> Outcome:
        if step.task == "filesystem usage":
            return ok("/dev/sda1 1000 500 500 50% /\n")
        return default_behaviour(step, host, op)

    for warn_at, flagged in (("10", 1), ("90", 0)):
        plan = prepare(
            load_playbook(EXAMPLES / "disk-usage.yaml"),
            hosts("h1"),
            extra_vars={"warn_at": warn_at},
        )
        result = run_playbook(plan, FakeExecutor(behave))
        flag = result.plays[0].tasks[1]
        assert (flag.failed, len(flag.results) - flag.skipped) == (0, flagged), flag.results


def test_a_template_type_error_is_one_line_naming_the_file_task_and_variable(
    tmp_path: Path,
) -> None:
    text = """
        - hosts: all
          tasks:
            - {name: cmp, run: x, when: "n + 1 >= limit"}
        """
    plan = plan_from(tmp_path, text, hosts("h1"), extra_vars={"limit": "10"})
    result = run_playbook(plan, FakeExecutor())
    error = result.plays[0].tasks[0].results[0].error or ""
    assert error.startswith(f"{tmp_path / 'book.yaml'}:4: when: ")
    assert "limit is the text '10'" in error and "limit | int" in error
    assert "TypeError" not in error and "not supported between" not in error
    assert "\n" not in error
