"""Templates, batches and the per-host checks done before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from playbook_fakes import hosts, plan_from

from hostops.errors import ConfigError
from hostops.models import Host
from hostops.playbook import Count, batches, fail_limit
from hostops.playbook import template as tpl


def test_quote_makes_one_shell_word() -> None:
    ctx = {"name": "it's; rm -rf /", "plain": "app", "n": 3}
    assert tpl.render("echo {{ name | quote }}", ctx) == "echo 'it'\"'\"'s; rm -rf /'"
    assert tpl.render("echo {{ plain | quote }} {{ n | quote }}", ctx) == "echo app 3"


def test_undefined_names_and_attributes_are_errors() -> None:
    with pytest.raises(tpl.TemplateError, match="'svc' is undefined"):
        tpl.render("restart {{ svc }}", {})
    with pytest.raises(tpl.TemplateError, match="has no attribute 'stdot'"):
        tpl.render("{{ r.stdot }}", {"r": {"stdout": "x"}})
    with pytest.raises(tpl.TemplateError, match="'r' is undefined"):
        tpl.evaluate("r.rc == 0", {})


def test_the_sandbox_keeps_templates_away_from_python_and_from_the_variables() -> None:
    with pytest.raises(tpl.TemplateError, match=r"unsafe|not safely"):
        tpl.render("{{ ''.__class__.__mro__ }}", {})
    ports = [80]
    with pytest.raises(tpl.TemplateError):
        tpl.render("{{ ports.append(1) }}", {"ports": ports})
    assert ports == [80]


def test_values_are_inserted_never_rendered_again() -> None:
    # A host's output that looks like a template stays text.
    out = {"stdout": "{{ secret }}"}
    assert tpl.render("echo {{ r.stdout | quote }}", {"r": out}) == "echo '{{ secret }}'"


def test_names_a_template_reads() -> None:
    names = tpl.template_names("{{ a }} {% for x in b %}{{ x }}{{ c.d }}{% endfor %}")
    assert names.read == names.required == {"a", "b", "c"}
    assert tpl.template_names("no markup").read == frozenset()
    assert tpl.expression_names("r.rc == 0 and x in range(3)").read == {"r", "x"}


@pytest.mark.parametrize(
    ("source", "read", "required"),
    [
        ("{{ a | default('x') }}", {"a"}, set()),
        ("{{ a.b.c | d(z) }}", {"a", "z"}, {"z"}),
        ("{{ a[k] | default(1) }}", {"a", "k"}, {"k"}),
        ("{{ a | default(1) }}{{ a.b }}", {"a"}, set()),  # guarded once: may be undefined
        ("{{ a | upper | default(1) }}", {"a"}, {"a"}),  # upper() needs it defined
        ("{% if a is defined %}{{ a }}{% endif %}", {"a"}, set()),
    ],
)
def test_names_read_only_through_a_guard_may_be_undefined(
    source: str, read: set[str], required: set[str]
) -> None:
    names = tpl.template_names(source)
    assert (names.read, names.required) == (read, required)
    assert tpl.expression_names("x is defined and x > 1").required == set()
    assert tpl.expression_names("y > 1 and x is undefined").required == {"y"}


@pytest.mark.parametrize(
    ("count", "serial", "sizes"),
    [
        (5, None, [5]),
        (5, Count(2), [2, 2, 1]),
        (10, Count(30, percent=True), [3, 3, 3, 1]),
        (10, Count(5, percent=True), [1] * 10),  # 0.5 rounds down, but a batch has 1 host
        (3, Count(100, percent=True), [3]),
        (3, Count(10), [3]),
        (0, Count(2), []),
    ],
)
def test_batches(count: int, serial: Count | None, sizes: list[int]) -> None:
    items = list(range(count))
    got = batches(items, serial)
    assert [len(b) for b in got] == sizes
    assert [i for b in got for i in b] == items


@pytest.mark.parametrize(
    ("size", "max_fail", "limit"),
    [
        (5, None, 4),  # without max_fail: only a whole failed batch stops the play
        (1, None, 0),
        (5, Count(0), 0),
        (5, Count(2), 2),
        (5, Count(10, percent=True), 0),  # 0.5 rounds down
        (10, Count(25, percent=True), 2),
        (4, Count(100, percent=True), 4),
    ],
)
def test_fail_limit(size: int, max_fail: Count | None, limit: int) -> None:
    assert fail_limit(size, max_fail) == limit


def test_hosts_by_pattern_limit_and_batches(tmp_path: Path) -> None:
    inventory = [
        *hosts("web01", "web02", "web03", groups=["web"]),
        *hosts("db01", groups=["db"]),
    ]
    plan = plan_from(
        tmp_path,
        """
        - hosts: web:!web02
          serial: 1
          tasks: [{run: uptime}]
        - hosts: db,web02
          tasks: [{run: uptime}]
        - hosts: web03
          tasks: [{run: uptime}]
        """,
        inventory,
        limit={"web01", "web02", "db01"},
    )
    web, mixed, last = plan.plays
    assert [h.name for h in web.hosts] == ["web01"]
    assert [[h.name for h in b] for b in web.batches] == [["web01"]]
    assert [h.name for h in mixed.hosts] == ["web02", "db01"]  # inventory order
    assert last.hosts == ()  # limited away: the play runs on no host, no error
    assert [h.name for h in plan.hosts] == ["web01", "web02", "db01"]


def test_a_pattern_term_matching_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        plan_from(tmp_path, "- hosts: wbe\n  tasks: [{run: x}]\n", hosts("web", groups=["web"]))
    assert str(err.value) == (
        f"{tmp_path / 'book.yaml'}:1: play 'wbe': hosts: pattern 'wbe': 'wbe' matches no host "
        "or group (did you mean 'web'?)"
    )


def test_variables_precedence_and_templated_play_vars(tmp_path: Path) -> None:
    inventory = [
        Host("a", "10.0.0.1", groups=("web",), vars={"site": "par1", "port": 80, "who": "host"}),
    ]
    plan = plan_from(
        tmp_path,
        """
        - hosts: all
          vars:
            who: play
            url: "http://{{ inventory_hostname }}:{{ port }}/{{ site }}"
            port: 8080
          tasks: [{run: "curl {{ url }}"}]
        """,
        inventory,
        extra_vars={"site": "lon1"},
    )
    variables = plan.plays[0].variables["a"]
    # Play vars are templates over the host's variables (not over each other).
    assert variables["url"] == "http://a:80/lon1"
    assert variables["who"] == "play" and variables["port"] == 8080 and variables["site"] == "lon1"
    assert variables["inventory_hostname"] == "a" and variables["group_names"] == ["web"]


def test_an_undefined_variable_names_the_host_the_task_and_a_close_name(tmp_path: Path) -> None:
    inventory = [*hosts("web01", "web02", service="app"), *hosts("web03")]
    text = """
        - name: deploy
          hosts: all
          tasks:
            - run: echo {{ service }}
            - name: restart
              run: systemctl restart {{ servise }}
        """
    with pytest.raises(ConfigError) as err:
        plan_from(tmp_path, text, inventory[:2])
    assert str(err.value) == (
        f"{tmp_path / 'book.yaml'}:6: play 'deploy': task 'restart': run: undefined variable "
        "'servise' for host web01 and 1 other host(s) (did you mean 'service'?)"
    )
    # Defined on some hosts only: the first host without it is named.
    with pytest.raises(ConfigError, match=r":5: .*undefined variable 'service' for host web03$"):
        plan_from(tmp_path, text, inventory)


@pytest.mark.parametrize(
    ("task", "where"),
    [
        ("{run: x, when: flag}", "when"),
        ("{run: x, until: 'out.rc == 0'}", "until"),
        ("{put: {src: book.yaml, dest: '{{ d }}'}}", "put: dest"),
        ("{run: x, creates: '{{ d }}'}", "creates"),
        ("{run: x, env: {A: '{{ d }}'}}", "env: A"),
        ("{run: x, cwd: '{{ d }}'}", "cwd"),
        ("{get: {src: '{{ d }}', dest: x}}", "get: src"),
    ],
)
def test_every_templated_field_is_checked(tmp_path: Path, task: str, where: str) -> None:
    with pytest.raises(ConfigError, match=rf":3: .*task .*: {where}: undefined variable"):
        plan_from(tmp_path, f"- hosts: all\n  tasks:\n    - {task}\n", hosts("h"))


def test_registered_names_count_from_the_task_that_registers_them(tmp_path: Path) -> None:
    ok = """
        - hosts: all
          tasks:
            - {run: hostname, register: out}
            - {run: "echo {{ out.stdout }}", when: out.rc == 0}
            - {run: x, until: result.rc == 0 and again.rc == 0, register: again, changed_when: result.changed}
        - hosts: all
          tasks:
            - {run: "echo {{ again.stdout }}"}
        """
    plan_from(tmp_path, ok, hosts("a", "b"))
    early = """
        - hosts: all
          tasks:
            - {run: "echo {{ out.stdout }}"}
            - {run: hostname, register: out}
        """
    with pytest.raises(ConfigError, match=r":4: .*undefined variable 'out' for host a and 1"):
        plan_from(tmp_path, early, hosts("a", "b"))
    # A host registers only in the plays it is in.
    other = """
        - hosts: a
          tasks: [{run: hostname, register: out}]
        - hosts: all
          tasks: [{run: "echo {{ out.stdout }}"}]
        """
    with pytest.raises(ConfigError, match=r":5: .*undefined variable 'out' for host b$"):
        plan_from(tmp_path, other, hosts("a", "b"))


def test_local_files_must_exist_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "check.sh").write_text("exit 0\n")
    good = """
        - hosts: all
          tasks:
            - script: files/check.sh --fast
            - put: {src: "files/", dest: /tmp/x}
            - {run: hostname, register: out}
            - put: {src: "{{ out.stdout }}", dest: /tmp/x}   # known only when run
        """
    plan_from(tmp_path, good, hosts("a"))
    missing = "- hosts: all\n  tasks:\n    - script: 'files/chek.sh {{ n }}'\n"
    with pytest.raises(ConfigError) as err:
        plan_from(tmp_path, missing, hosts("a"))
    assert str(err.value) == (
        f"{tmp_path / 'book.yaml'}:3: play 'all': task 'script: files/chek.sh {{{{ n }}}}': "
        f"no such local file or directory: {tmp_path / 'files' / 'chek.sh'} (host a)"
    )


def test_a_play_var_that_cannot_render_is_reported(tmp_path: Path) -> None:
    text = "- hosts: all\n  vars: {url: '{{ prot }}://x'}\n  tasks: [{run: 'curl {{ url }}'}]\n"
    with pytest.raises(ConfigError, match=r":1: play 'all': vars: url: 'prot' is undefined"):
        plan_from(tmp_path, text, hosts("a"))


@pytest.mark.parametrize(
    ("use", "field"),
    [
        ("{run: 'echo {{ r.stdot }}'}", "stdot"),
        ("{run: x, when: \"r['rcode'] == 0\"}", "rcode"),
        ("{run: x, until: result.stdout_line, register: s}", "stdout_line"),
    ],
)
def test_a_typo_in_a_registered_field_is_a_load_error(tmp_path: Path, use: str, field: str) -> None:
    text = f"- hosts: all\n  tasks:\n    - {{run: x, register: r}}\n    - {use}\n"
    with pytest.raises(ConfigError, match=rf":4: .*registered result '\w+' has no field {field!r}"):
        plan_from(tmp_path, text, hosts("a"))


def test_every_registered_field_is_known(tmp_path: Path) -> None:
    fields = ["rc", "stdout", "stderr", "stdout_lines", "stderr_lines", "status", "changed"]
    uses = " ".join(f"{{{{ r.{f} }}}}" for f in fields)
    text = f"- hosts: all\n  tasks:\n    - {{run: x, register: r}}\n    - {{run: 'echo {uses}'}}\n"
    plan_from(tmp_path, text, hosts("a"))
