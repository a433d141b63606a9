"""Inventory sources: several files, directories, dynamic inventory scripts, their errors;
where each setting came from; the environment of local subprocesses.

What Ansible makes of the same inputs is checked in tests/compat (the corpus); these
tests cover what the differential tests cannot: hostops's own errors and fields.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hostops.errors import ConfigError
from hostops.inventory import build, load_inventory, load_raw
from hostops.inventory.script import read_script
from hostops.localenv import child_environment


def _write(path: Path, text: str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


def _script(path: Path, body: str) -> Path:
    return _write(path, f"#!{sys.executable}\nimport json, os, sys, time\n{body}\n", 0o755)


def test_several_sources_merge_in_order(tmp_path: Path) -> None:
    a = _write(tmp_path / "a" / "hosts.ini", "[web]\nweb1 ansible_port=2201 x=a\nweb2\n")
    b = _write(tmp_path / "b" / "more.yml", "web:\n  hosts:\n    web1:\n      x: b\n    web3:\n")
    _write(tmp_path / "b" / "host_vars" / "web2.yml", "ansible_user: from-b\n")
    hosts = {h.name: h for h in load_inventory([a, b])}
    assert list(hosts) == ["web1", "web2", "web3"]
    assert (hosts["web1"].port, hosts["web1"].vars["x"]) == (2201, "b")  # a later source wins
    assert hosts["web2"].user == "from-b"  # each source's directory has its host_vars
    assert hosts["web1"].origins["port"] == f"{a}:2"


def test_a_native_inventory_is_read_alone(tmp_path: Path) -> None:
    native = _write(tmp_path / "native.yaml", "hosts:\n  h1:\n")
    ansible = _write(tmp_path / "hosts.ini", "h2\n")
    assert [h.name for h in load_inventory(native)] == ["h1"]
    with pytest.raises(ConfigError, match="a hostops inventory is read alone"):
        load_inventory([native, ansible])


def test_origins_name_file_and_line_for_every_connection_setting(tmp_path: Path) -> None:
    inv = _write(
        tmp_path / "inv.ini",
        "[web]\nweb1 ansible_host=10.0.0.1\n[web:vars]\nansible_become=yes\n",
    )
    _write(tmp_path / "group_vars" / "all.yml", "ansible_user: ops\nansible_port: 2222\n")
    _write(
        tmp_path / "host_vars" / "web1.yml",
        "ansible_ssh_private_key_file: /k\nansible_become_user: admin\n"
        "ansible_ssh_common_args: -J gw\n",
    )
    (web1,) = load_inventory(inv)
    gv, hv = tmp_path / "group_vars" / "all.yml", tmp_path / "host_vars" / "web1.yml"
    assert dict(web1.origins) == {
        "address": f"{inv}:2",
        "user": f"{gv}:1",
        "port": f"{gv}:2",
        "identity_file": f"{hv}:1",
        "sudo": f"{inv}:4",
        "sudo_user": f"{hv}:2",
        "ssh_options": f"{hv}:3",
        "jump": f"{hv}:3",
    }
    assert web1.config_name == "10.0.0.1"  # ssh_config is looked up by the address
    native = _write(tmp_path / "native.yaml", "hosts:\n  h1:\n    user: u\n")
    (h1,) = load_inventory(native)
    assert h1.config_name is None and h1.origins == {"user": f"{native}:3"}  # its settings


def test_a_directory_skips_what_ansible_skips(tmp_path: Path) -> None:
    folder = tmp_path / "inventory"
    _write(folder / "b.ini", "[web]\nweb2\n")
    _write(folder / "a.ini", "[web]\nweb1\n")
    for ignored in ("notes.md", "x.retry", ".hidden", "old.bak", "c.ini~", "conf.cfg"):
        _write(folder / ignored, "not-a-host\n")
    _write(folder / "group_vars" / "web", "ansible_user: u\n")
    hosts = load_inventory(folder)
    assert [h.name for h in hosts] == ["web1", "web2"]
    assert {h.user for h in hosts} == {"u"}


def test_dynamic_inventory_script_with_and_without_meta(tmp_path: Path) -> None:
    meta = _script(
        tmp_path / "meta.py",
        'print(json.dumps({"g": {"hosts": ["h1"]}, "_meta": {"hostvars": {"h1": {"ansible_port": 2}}}}))',
    )
    (h1,) = load_inventory(meta)
    assert (h1.name, h1.port, h1.groups) == ("h1", 2, ("g",))
    asked = _script(
        tmp_path / "asked.py",
        'if sys.argv[1] == "--list": print(json.dumps({"g": ["h1", "h2"]}))\n'
        'else: print(json.dumps({"ansible_user": "u-" + sys.argv[2]}))',
    )
    assert [h.user for h in load_inventory(asked)] == ["u-h1", "u-h2"]


def test_a_script_gets_no_hostops_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTOPS_SUDO_PASSWORD", "leak-me")
    script = _script(
        tmp_path / "env.py",
        'print(json.dumps({"g": ["h1"], "_meta": {"hostvars": {"h1": {"seen": '
        'os.environ.get("HOSTOPS_SUDO_PASSWORD", "none")}}}}))',
    )
    (h1,) = load_inventory(script)
    assert h1.vars["seen"] == "none"
    assert "HOSTOPS_SUDO_PASSWORD" not in child_environment()
    assert "MY_PASS" not in child_environment(["MY_PASS"])
    assert os.environ["HOSTOPS_SUDO_PASSWORD"] == "leak-me"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('sys.stderr.write("boom\\n"); sys.exit(3)', "inventory script --list exited with 3: boom"),
        ('print("not json")', "inventory script --list: not JSON (Expecting value at line 1)"),
        ("print(json.dumps([1]))", "--list printed a list, not a JSON object"),
        (
            'print(json.dumps({"g": {"hosts": "h1"}}))',
            "--list: g.hosts must be a list of host names",
        ),
        (
            'print(json.dumps({"_meta": {"hostvars": []}}))',
            "--list: _meta.hostvars must be a JSON object",
        ),
    ],
)
def test_script_failures_are_one_line_errors(tmp_path: Path, body: str, message: str) -> None:
    script = _script(tmp_path / "bad.py", body)
    with pytest.raises(ConfigError) as info:
        load_inventory(script)
    assert str(info.value) == f"{script}: {message}"
    assert info.value.exit_code == 2


def test_a_script_that_hangs_is_stopped(tmp_path: Path) -> None:
    script = _script(tmp_path / "slow.py", "time.sleep(30)")
    with pytest.raises(ConfigError, match=r"inventory script --list: no answer within 0\.5 s"):
        read_script(str(script), timeout=0.5)


def test_become_other_than_sudo_marks_the_host_not_the_inventory(tmp_path: Path) -> None:
    inv = _write(
        tmp_path / "inv.ini",
        "[web]\nweb1 ansible_become=true ansible_become_method=su\nweb2 ansible_become=true\n"
        "web3 ansible_become=false ansible_become_method=doas\n",
    )
    hosts = {h.name: h for h in load_inventory(inv)}
    assert (
        hosts["web1"].problem
        == f"{inv}:2: ansible_become_method 'su': hostops becomes another user with sudo only"
    )
    assert (hosts["web2"].sudo, hosts["web2"].problem) == (True, None)
    assert (hosts["web3"].sudo, hosts["web3"].problem) == (False, None)  # not becoming at all


def test_several_sources_checked_for_group_cycles_across_files(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.ini", "[x:children]\ny\n[y]\nh1\n")
    b = _write(tmp_path / "b.ini", "[y:children]\nx\n[x]\nh2\n")
    with pytest.raises(ConfigError, match="group cycle"):
        build(load_raw([a, b]))
