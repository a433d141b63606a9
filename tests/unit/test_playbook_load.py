"""Loading playbooks: the model, and every kind of mistake reported as FILE:LINE before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hostops.errors import ConfigError
from hostops.inventory.patterns import PatternError, check_syntax
from hostops.playbook import (
    CommandAction,
    Count,
    DownloadAction,
    ScriptAction,
    UploadAction,
    load_playbook,
)
from hostops.playbook.load import parse_mode

Write = Callable[..., Path]

GOOD = """\
- name: rolling restart
  hosts: web:&prod
  serial: 30%
  max_fail: 1
  vars:
    service: app
    ports: [80, 443]
  tasks:
    - name: stop
      run: systemctl stop {{ service | quote }}
      sudo: true
      timeout: 30
      register: stopped
    - script: files/check.sh --fast
      retries: 5
      delay: 0.5
      until: result.rc == 0
      when:
        - stopped.rc == 0
        - true
      env: {MODE: fast, LEVEL: 3}
      cwd: /srv
      changed_when: false
      ignore_errors: true
    - put: {src: files/app.conf, dest: /etc/app.conf, mode: 0640}
      creates: /etc/app.conf.lock
    - get: {src: /var/log/app.log, dest: logs}
      removes: /var/log/app.log
- hosts: db
  tasks:
    - run: uptime
      until: result.rc == 0
"""


def test_a_good_playbook_becomes_the_model(write_inv: Write) -> None:
    book = load_playbook(write_inv(GOOD, "site.yaml"))
    first, second = book.plays
    assert (first.name, first.hosts, first.line) == ("rolling restart", "web:&prod", 1)
    assert first.serial == Count(30, percent=True) and first.max_fail == Count(1)
    assert first.vars == {"service": "app", "ports": [80, 443]}
    stop, check, put, get = first.tasks
    assert stop.action == CommandAction("systemctl stop {{ service | quote }}")
    assert (stop.sudo, stop.timeout, stop.register, stop.line) == (True, 30.0, "stopped", 9)
    assert check.action == ScriptAction("files/check.sh --fast")
    assert (check.retries, check.delay, check.until) == (5, 0.5, ("result.rc == 0",))
    assert check.when == ("stopped.rc == 0", "True")
    assert check.env == (("MODE", "fast"), ("LEVEL", "3")) and check.cwd == "/srv"
    assert check.changed_when == ("False",) and check.ignore_errors
    # 0640 is the octal number YAML reads as 416: the text as written is kept.
    assert put.action == UploadAction("files/app.conf", "/etc/app.conf", "0640")
    assert put.creates == "/etc/app.conf.lock" and put.kind == "put"
    assert (
        get.action == DownloadAction("/var/log/app.log", "logs")
        and get.removes == "/var/log/app.log"
    )
    assert check.title == "script: files/check.sh --fast" and stop.title == "stop"
    # `until` without `retries`: 3 more attempts, as Ansible.
    assert second.title == "db" and second.tasks[0].retries == 3
    assert second.serial is None and second.max_fail is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n", "1: a playbook is a list, not a mapping"),
        ("[]\n", "1: the playbook has no plays"),
        ("- hosts: all\n  tasks: [\n", "3: invalid YAML: did not find expected node content"),
        (
            "- hosts: all\n  task: []\n",
            "2: unknown key 'task' in play 1 (did you mean 'tasks'? allowed: "
            "name, hosts, vars, serial, max_fail, tags, sudo, become, sudo_user, become_user, "
            "force_handlers, lock, tasks, handlers)",
        ),
        (
            "- tasks: []\n",
            "1: play 1: 'hosts' is missing (a host pattern, such as 'all' or 'web')",
        ),
        (
            "- name: web\n  hosts: 'web[01-'\n  tasks: []\n",
            "2: play 'web': hosts: pattern 'web[01-': unbalanced brackets in 'web[01-'",
        ),
        ("- hosts: '~web('\n  tasks: []\n", "1: play 1: hosts: pattern '~web(': bad regular"),
        ("- hosts: all\n", "1: play 1: 'tasks' is missing"),
        ("- hosts: all\n  tasks: {}\n", "2: play 1: tasks is a list, not a mapping"),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      whne: a\n",
            "4: unknown key 'whne' in task 1 (did you mean 'when'? allowed: run, script, put, "
            "template, get, meta, name, sudo, become, sudo_user, become_user, timeout, retries, "
            "until, delay, ignore_errors, when, changed_when, creates, removes, register, env, "
            "cwd, tty, loop, loop_control, notify, run_once, delegate_to, tags)",
        ),
        (
            "- hosts: all\n  tasks:\n    - name: t\n      rnu: x\n",
            "4: task 't': unknown action 'rnu' (did you mean 'run'? actions: run, script, put, template, get, meta)",
        ),
        (
            "- hosts: all\n  tasks:\n    - shell: x\n",
            "3: task 1: unknown action 'shell' (actions: run, script, put, template, get, meta)",
        ),
        (
            "- hosts: all\n  tasks:\n    - name: t\n      sudo: true\n",
            "3: task 't' has no action: give one of run, script, put, template, get, meta",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      script: y\n",
            "4: task 1 has both run and script: one per task",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: a\n    - run: b\n      run: c\n",
            "5: duplicate key 'run' in task 2 of play 1 (first at line 4)",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      sudo: yes please\n",
            "4: task 1: sudo must be true or false, not 'yes please'",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: 42\n",
            "3: task 1: run must be a non-empty string, not the scalar '42'",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: a\n      timeout: 0\n",
            "4: task 1: timeout must be a number of seconds above 0, not 0",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: a\n      retries: 1.5\n",
            "4: task 1: retries must be a whole number, at least 0, not 1.5",
        ),
        (
            "- hosts: all\n  serial: 0\n  tasks: []\n",
            "2: play 1: serial must be a number of hosts (at least 1) or a percentage such as '30%', not 0",
        ),
        (
            "- hosts: all\n  serial: 150%\n  tasks: []\n",
            "2: play 1: serial must be a number of hosts (at least 1) or a percentage such as '30%', not '150%'",
        ),
        (
            "- hosts: all\n  max_fail: -1\n  tasks: []\n",
            "2: play 1: max_fail must be a number of hosts (at least 0) or a percentage such as '30%', not -1",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: echo {{ x \n",
            "3: task 1: run: bad template: unexpected end of template, expected 'end of print statement'.",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: echo {{ x | quot }}\n",
            "3: task 1: run: bad template: No filter named 'quot'.",
        ),
        (
            # The line of the template inside a block scalar, not of the key.
            "- hosts: all\n  tasks:\n    - run: |\n        echo a\n        echo {{ b }\n",
            "5: task 1: run: bad template: unexpected '}'",
        ),
        (
            "- hosts: all\n  vars:\n    a: '{{ b'\n  tasks: []\n",
            "3: play 1: vars: a: bad template: unexpected end of template",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      when: a ==\n",
            "4: task 1: when: bad expression 'a ==': unexpected 'end of template'",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      until: ['a', 'b c']\n",
            "4: task 1: until: bad expression 'b c': chunk after expression",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: x\n      when: '{{ a }}'\n",
            "4: task 1: when is an expression: write it without {{ }}, not '{{ a }}'",
        ),
        (
            "- hosts: all\n  tasks:\n    - put: {src: a, dest: b}\n      env: {A: 1}\n",
            "4: task 1: env applies to run, script tasks, not put",
        ),
        (
            "- hosts: all\n  tasks:\n    - get: {src: a, dest: b}\n      sudo: true\n",
            "4: task 1: sudo applies to run, script, put, template tasks, not get",
        ),
        (
            "- hosts: all\n  tasks:\n    - put: {src: a}\n",
            "3: task 1: put needs 'dest' (give src, dest, mode, owner, group, backup)",
        ),
        (
            "- hosts: all\n  tasks:\n    - get: {src: a, dest: b, mode: 644}\n",
            "3: unknown key 'mode' in task 1: get (allowed: src, dest)",
        ),
        (
            "- hosts: all\n  tasks:\n    - put: {src: a, dest: b, mode: 0999}\n",
            "3: task 1: put: mode: a mode is 3 or 4 octal digits like 0644, not '0999'",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: a\n      register: my-var\n",
            "4: task 1: register: 'my-var' is not a variable name (letters, digits and _)",
        ),
        (
            "- hosts: all\n  vars: {inventory_hostname: x}\n  tasks: []\n",
            "2: play 1: vars: 'inventory_hostname' is set by hostops for every host; choose another name",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: a\n      env: {'A-B': 1}\n",
            "4: task 1: env: 'A-B' is not an environment variable name",
        ),
        (
            "- hosts: all\n  tasks:\n    - run: a\n      env: {A: [1]}\n",
            "4: task 1: env: A must be a string or a number, not [1] (quote it)",
        ),
    ],
)
def test_mistakes_are_reported_with_file_and_line(
    write_inv: Write, text: str, message: str
) -> None:
    path = write_inv(text, "book.yaml")
    with pytest.raises(ConfigError) as err:
        load_playbook(path)
    assert str(err.value).startswith(f"{path}:{message}"), str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.yaml: no such file"):
        load_playbook(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "mode"), [("0644", 0o644), ("644", 0o644), ("0o600", 0o600), ("4755", 0o4755)]
)
def test_modes_are_octal_as_written(text: str, mode: int) -> None:
    assert parse_mode(text) == mode


@pytest.mark.parametrize("text", ["", "8", "0x1ff", "rw-r--r--", "77777"])
def test_bad_modes(text: str) -> None:
    with pytest.raises(ValueError, match="octal digits"):
        parse_mode(text)


@pytest.mark.parametrize(
    "pattern", ["all", "web:&prod:!web03", "~web0[1-3]", "web[01-05]", "@hosts.txt"]
)
def test_pattern_syntax_is_checked_without_an_inventory(pattern: str) -> None:
    check_syntax(pattern)


@pytest.mark.parametrize("pattern", ["", " , ", "web:!", "~(", "web[05-01]"])
def test_malformed_patterns(pattern: str) -> None:
    with pytest.raises(PatternError):
        check_syntax(pattern)
