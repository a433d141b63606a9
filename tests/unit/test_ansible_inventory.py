"""Ansible inventories (INI and YAML) read into the raw model.

The inventories follow Ansible's "How to build your inventory" page; what real
Ansible makes of such files is checked in tests/compat.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ansible_examples import DOC_INI, DOC_YAML

from hostops.errors import ConfigError
from hostops.inventory import load_inventory
from hostops.inventory.ansible import load_ansible
from hostops.inventory.ansible_settings import MAPPED_VARS, connection_settings
from hostops.inventory.raw import RawGroup, RawHost, RawInventory
from hostops.models import Transport
from hostops.vault import Vaulted

Write = Callable[..., Path]


SOUTHEAST_INI = """\
[atlanta]
host1 http_port=80 maxRequestsPerChild=808
host2 http_port=303 maxRequestsPerChild=909

[raleigh]
host2
host3

[southeast:children]
atlanta
raleigh

[southeast:vars]
some_server=foo.southeast.example.com
halon_system_timeout=30
self_destruct_countdown=60
escape_pods=2

[usa:children]
southeast
"""


def members(inv: RawInventory) -> dict[str, set[str]]:
    """Every group's hosts, child groups included (transitively)."""

    def hosts_of(name: str) -> set[str]:
        group = inv.groups[name]
        found = set(group.hosts)
        for child in group.children:
            found |= hosts_of(child)
        return found

    return {name: hosts_of(name) for name in inv.groups}


def error(path: Path) -> ConfigError:
    """The error reading the inventory and resolving every host (as a run would)."""
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    return info.value


def settings(entry: RawHost | RawGroup) -> dict:
    """One host's or group's own variables read as settings (``vars`` for the others),
    as if nothing else set any: what this file says about it."""
    name = entry.name
    own, _ = connection_settings(name, entry.variables)
    own.pop("config_name")
    free = {k: v.value for k, v in entry.variables.items() if k not in MAPPED_VARS}
    if free:
        own["vars"] = free
    return own


def reason_at(err: ConfigError, path: Path, line: int | None) -> str:
    """The message is ``FILE:LINE: reason`` (or ``FILE: reason``); returns the reason."""
    prefix = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(err).startswith(prefix), f"{err} does not start with {prefix!r}"
    assert (err.path, err.line) == (str(path), line)
    return err.reason


# --------------------------------------------------------------------------- hosts and groups


def test_documented_ini_example_hosts_and_groups(write_inv: Write) -> None:
    inv = load_ansible(write_inv(DOC_INI, "hosts.ini"))
    assert list(inv.hosts) == [
        "mail.example.com",
        "foo.example.com",
        "bar.example.com",
        "one.example.com",
        "two.example.com",
        "three.example.com",
    ]
    assert inv.groups["webservers"].hosts == ["foo.example.com", "bar.example.com"]
    assert inv.groups["prod"].children == ["east"]
    assert inv.groups["prod"].hosts == []
    assert inv.groups["ungrouped"].hosts == ["mail.example.com"]
    assert inv.groups["all"].children == ["ungrouped", "webservers", "dbservers", "prod", "test"]
    groups = members(inv)
    assert groups["all"] == set(inv.hosts)
    assert groups["prod"] == {"foo.example.com", "one.example.com", "two.example.com"}
    assert groups["test"] == {"bar.example.com", "three.example.com"}
    assert inv.hosts["two.example.com"].where is not None
    assert inv.hosts["two.example.com"].where.line == 9
    assert inv.groups["east"].where.line == 12
    assert settings(inv.groups["all"]) == {} and inv.warnings == []


def test_documented_yaml_example_matches_the_ini_one(write_inv: Write) -> None:
    ini = load_ansible(write_inv(DOC_INI, "hosts.ini"))
    yml = load_ansible(write_inv(DOC_YAML, "hosts.yml"))
    assert set(yml.hosts) == set(ini.hosts)
    assert members(yml) == members(ini)
    assert yml.groups["ungrouped"].hosts == ["mail.example.com"]
    assert yml.groups["all"].hosts == ["mail.example.com"]  # as written, and ungrouped too
    assert yml.groups["west"].where.line == 19


def test_yaml_top_level_groups_without_all(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            ungrouped:
              hosts:
                mail.example.com:
            webservers:
              hosts:
                foo.example.com:
                bar.example.com:
            """
        )
    )
    assert inv.groups["all"].children == ["ungrouped", "webservers"]
    assert members(inv)["all"] == {"mail.example.com", "foo.example.com", "bar.example.com"}


def test_a_group_met_twice_in_the_yaml_tree_is_one_group(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            all:
              children:
                webservers:
                  hosts:
                    web1:
                  vars: {tier: web, a: 1}
                prod:
                  children:
                    webservers:
                      hosts:
                        web2:
                      vars: {a: 2}
            """
        )
    )
    assert inv.groups["webservers"].hosts == ["web1", "web2"]
    assert settings(inv.groups["webservers"]) == {"vars": {"tier": "web", "a": 2}}
    assert inv.groups["webservers"].where.line == 3
    assert members(inv)["prod"] == {"web1", "web2"}
    # Listed under 'all' as well as under 'prod': Ansible keeps both edges.
    assert inv.groups["all"].children == ["ungrouped", "webservers", "prod"]


def test_southeast_children_and_typed_vars(write_inv: Write) -> None:
    inv = load_ansible(write_inv(SOUTHEAST_INI, "inv"))
    assert settings(inv.hosts["host1"]) == {"vars": {"http_port": 80, "maxRequestsPerChild": 808}}
    assert settings(inv.hosts["host3"]) == {}
    assert settings(inv.groups["southeast"]) == {
        "vars": {
            "some_server": "foo.southeast.example.com",
            "halon_system_timeout": 30,
            "self_destruct_countdown": 60,
            "escape_pods": 2,
        }
    }
    groups = members(inv)
    assert groups["usa"] == groups["southeast"] == {"host1", "host2", "host3"}
    assert inv.groups["raleigh"].hosts == ["host2", "host3"]
    assert inv.groups["all"].children == ["ungrouped", "usa"]


def test_children_may_be_declared_after_they_are_named(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            [southeast:children]
            atlanta

            [atlanta]
            host1
            """,
            "inv.ini",
        )
    )
    assert inv.groups["southeast"].children == ["atlanta"]
    assert inv.groups["atlanta"].where.line == 4  # declared there, named on line 2


def test_ini_values_are_typed_like_python_literals(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            [g]
            h1 n=80 yes=True word=yes quoted="two words" list=[1,2] d="{'a': 1}" tup=(1,2) f=1.5 none=None

            [g:vars]
            padded = 0x1F
            text = hello # kept, as Ansible keeps it
            num = 2222 # a Python comment: the literal is 2222
            s = 'single'
            """,
            "inv.ini",
        )
    )
    assert settings(inv.hosts["h1"])["vars"] == {
        "n": 80,
        "yes": True,
        "word": "yes",
        "quoted": "two words",
        "list": [1, 2],
        "d": {"a": 1},
        "tup": [1, 2],
        "f": 1.5,
        "none": None,
    }
    assert settings(inv.groups["g"])["vars"] == {
        "padded": 31,
        "text": "hello # kept, as Ansible keeps it",
        "num": 2222,
        "s": "single",
    }


def test_ini_comments_and_blank_lines(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            # a comment
            ; another comment
            [web]   # trailing comment on a header
              web1   # trailing comment on a host
            web2 a=1 # b=2
            """,
            "inv.ini",
        )
    )
    assert inv.groups["web"].hosts == ["web1", "web2"]
    assert settings(inv.hosts["web2"]) == {"vars": {"a": 1}}


def test_ranges(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            [webservers]
            www[01:50].example.com

            [databases]
            db-[a:f].example.com

            [odd]
            www[01:50:2].example.com ansible_user=odd

            [grid]
            r[1:2]-n[a:b]
            """,
            "inv.ini",
        )
    )
    assert inv.groups["webservers"].hosts == [f"www{i:02d}.example.com" for i in range(1, 51)]
    assert inv.groups["databases"].hosts == [f"db-{c}.example.com" for c in "abcdef"]
    odd = inv.groups["odd"].hosts
    assert odd == [f"www{i:02d}.example.com" for i in range(1, 51, 2)]
    assert all(settings(inv.hosts[h]) == {"user": "odd"} for h in odd)
    assert settings(inv.hosts["www02.example.com"]) == {}
    assert inv.groups["grid"].hosts == ["r1-na", "r1-nb", "r2-na", "r2-nb"]
    assert inv.hosts["www50.example.com"].where.line == 2


def test_ranges_and_ports_in_yaml_host_keys(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            all:
              children:
                web:
                  hosts:
                    web[1:3]:
                      ansible_user: deploy
                    "badwolf.example.com:5309":
                    "[2001:db8::1]:2222":
                    "2001:db8::2":
            """
        )
    )
    assert inv.groups["web"].hosts == [
        "web1",
        "web2",
        "web3",
        "badwolf.example.com",
        "2001:db8::1",
        "2001:db8::2",
    ]
    assert settings(inv.hosts["web2"]) == {"user": "deploy"}
    assert settings(inv.hosts["badwolf.example.com"]) == {"port": 5309}
    assert settings(inv.hosts["2001:db8::1"]) == {"port": 2222}
    assert settings(inv.hosts["2001:db8::2"]) == {}


def test_ungrouped_is_the_hosts_in_no_other_group(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            alone
            later

            [all]
            direct

            [web]
            later
            """,
            "inv.ini",
        )
    )
    assert inv.groups["ungrouped"].hosts == ["alone", "direct"]
    assert inv.groups["all"].hosts == ["direct"]
    assert members(inv)["all"] == {"alone", "later", "direct"}


def test_yaml_explicit_ungrouped_host_in_another_group_leaves_ungrouped(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            all:
              children:
                ungrouped:
                  hosts:
                    lone:
                    both:
                other:
                  hosts: both
            """
        )
    )
    assert inv.groups["ungrouped"].hosts == ["lone"]
    assert inv.groups["other"].hosts == ["both"]  # a bare name is allowed for a section


def test_a_host_repeated_keeps_the_later_value_of_each_variable(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            [a]
            h ansible_port=2201 x=1 y=1

            [b]
            h ansible_port=2202 x=2
            """,
            "inv.ini",
        )
    )
    assert settings(inv.hosts["h"]) == {"port": 2202, "vars": {"x": 2, "y": 1}}
    assert inv.hosts["h"].where.line == 2


def test_port_after_colon_counts_where_the_host_first_appears(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            badwolf.example.com:5309
            other:22 ansible_port=2200
            [g]
            badwolf.example.com:1
            """,
            "inv.ini",
        )
    )
    assert settings(inv.hosts["badwolf.example.com"]) == {"port": 5309}
    assert settings(inv.hosts["other"]) == {"port": 2200}


# --------------------------------------------------------------------------- settings


def test_connection_variables_map_to_settings(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            [targets]
            localhost              ansible_connection=local
            other1.example.com     ansible_connection=ssh        ansible_user=myuser
            other2.example.com     ansible_connection=smart      ansible_user=myotheruser
            jumper ansible_port=5555 ansible_host=192.0.2.50 ansible_ssh_private_key_file=~/.ssh/jumper
            p1 ansible_connection=paramiko ansible_private_key_file=/keys/p1 ansible_become=true
            """,
            "inv.ini",
        )
    )
    found = {name: settings(host) for name, host in inv.hosts.items()}
    assert found == {
        "localhost": {"connection": Transport.LOCAL},
        "other1.example.com": {"connection": Transport.SSH, "user": "myuser"},
        "other2.example.com": {"connection": Transport.SSH, "user": "myotheruser"},
        "jumper": {"address": "192.0.2.50", "port": 5555, "identity_file": ("~/.ssh/jumper",)},
        "p1": {
            "connection": Transport.SSH,
            "identity_file": ("/keys/p1",),
            "sudo": True,
        },
    }


def test_all_vars_are_group_all_and_group_vars_group_settings(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            all:
              vars:
                ansible_user: admin
                ansible_port: "2222"
                ntp_server: ntp.example.com
              children:
                web:
                  hosts:
                    web1:
                  vars:
                    ansible_user: deploy
                    ansible_connection: ssh
            """
        )
    )
    assert settings(inv.groups["all"]) == {
        "user": "admin",
        "port": 2222,
        "vars": {"ntp_server": "ntp.example.com"},
    }
    assert settings(inv.groups["web"]) == {"user": "deploy", "connection": Transport.SSH}


def test_ini_all_vars_and_group_vars_port_is_an_int(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            [web]
            web1

            [web:vars]
            ansible_port=2200
            ansible_ssh_user=legacy

            [all:vars]
            ansible_port = 2222
            """,
            "inv.ini",
        )
    )
    assert settings(inv.groups["web"]) == {"port": 2200, "user": "legacy"}
    assert settings(inv.groups["all"]) == {"port": 2222}


def test_legacy_names_win_over_new_ones_as_in_ansible(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            "h1 ansible_host=10.0.0.7 ansible_ssh_host=10.0.0.8 ansible_port=1 ansible_ssh_port=2 "
            "ansible_user=a ansible_ssh_user=b\n",
            "inv.ini",
        )
    )
    assert settings(inv.hosts["h1"]) == {"address": "10.0.0.8", "port": 2, "user": "b"}


def test_null_connection_values_count_as_unset(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            all:
              hosts:
                h1:
                  ansible_host:
                  ansible_ssh_host: 10.0.0.1
                  ansible_user: ~
                  ansible_port: null
            """
        )
    )
    assert settings(inv.hosts["h1"]) == {"address": "10.0.0.1"}


def test_digits_as_user_are_text(write_inv: Write) -> None:
    inv = load_ansible(write_inv("h1 ansible_user=1000\n", "inv.ini"))
    assert settings(inv.hosts["h1"]) == {"user": "1000"}


def test_templates_are_kept_in_free_vars(write_inv: Write) -> None:
    inv = load_ansible(write_inv('h1 motd="{{ inventory_hostname }}"\n', "inv.ini"))
    assert settings(inv.hosts["h1"]) == {"vars": {"motd": "{{ inventory_hostname }}"}}


def test_unsafe_values_are_plain_text(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            all:
              hosts:
                h1:
                  ansible_user: !unsafe 'deploy'
                  note: !unsafe '{{ raw }}'
                  more: [!unsafe '{{ a }}', {b: !unsafe '{{ b }}'}]
            """
        )
    )
    assert settings(inv.hosts["h1"]) == {
        "user": "deploy",
        "vars": {"note": "{{ raw }}", "more": ["{{ a }}", {"b": "{{ b }}"}]},
    }


@pytest.mark.parametrize(
    ("args", "jump"),
    [
        ("-J bastion", "bastion"),
        ("-J user@b:2222,c", "user@b:2222,c"),
        ("-Jbastion", "bastion"),
        ("-o ProxyJump=x", "x"),
        ("-o 'ProxyJump x'", "x"),
        ("-oProxyJump=admin@gw:2200", "admin@gw:2200"),
        ("-o proxyjump=x", "x"),
        ("-o ProxyJump = x", None),  # three words: ssh itself would refuse '='
        ("-J a -o ProxyJump=b", "a"),  # as ssh: the first value obtained
    ],
)
def test_proxyjump_in_ssh_args(write_inv: Write, args: str, jump: str | None) -> None:
    path = write_inv(
        f"""\
        all:
          hosts:
            h1:
              ansible_ssh_common_args: "{args}"
        """
    )
    if jump is None:
        assert "-o 'ProxyJump': expected Key=Value" in reason_at(error(path), path, 4)
        return
    inv = load_ansible(path)
    found = settings(inv.hosts["h1"])
    assert found.pop("jump") == jump
    assert dict(found.pop("ssh_options"))[
        "ProxyJump" if "J" in args else args.split("=", maxsplit=1)[0][-9:]
    ]
    assert found == {}
    assert inv.warnings == []


def test_other_ssh_args_become_ssh_options_in_order(write_inv: Write) -> None:
    path = write_inv(
        """\
        [all:vars]
        ansible_ssh_common_args='-o ProxyCommand="ssh -W %h:%p -q user@gateway.example.com"'

        [web]
        web1 ansible_ssh_extra_args="-J bastion -o StrictHostKeyChecking=no -C -i /secret/key -p 2200 -l ops"
        """,
        "inv.ini",
    )
    (web1,) = load_inventory(path)
    assert web1.ssh_options == (
        ("ProxyCommand", "ssh -W %h:%p -q user@gateway.example.com"),
        ("ProxyJump", "bastion"),
        ("StrictHostKeyChecking", "no"),
        ("Compression", "yes"),
        ("IdentityFile", "/secret/key"),
        ("Port", "2200"),
        ("User", "ops"),
    )
    assert web1.jump == "bastion"
    assert web1.origins["ssh_options"] == f"{path}:2, {path}:5"


def test_a_range_warns_once_per_line(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv("[web]\nweb[1:20] ansible_password=hunter2 ansible_become_pass=x\n", "inv.ini")
    )
    assert len(inv.warnings) == 2  # one per variable, not one per host


# --------------------------------------------------------------------------- secrets

SECRETS = [
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_pass",
    "ansible_become_password",
    "ansible_sudo_pass",
    "ansible_ssh_private_key_passphrase",
    "ansible_private_key_passphrase",
    "ansible_winrm_password",
    "ansible_private_key",
]
SECRET = "S3cr3t-Value-0xDEAD"
ADVICE = (
    "hostops never reads secrets in plain text from an inventory; vault it"
    " (ansible-vault encrypt_string) or name an environment variable with password_env"
    " in a hostops inventory"
)


@pytest.mark.parametrize("name", SECRETS)
def test_secrets_in_ini_host_lines_are_dropped_and_never_shown(write_inv: Write, name: str) -> None:
    path = write_inv(f"[web]\nweb1 ansible_user=deploy {name}={SECRET} keep=1\n", "inv.ini")
    inv = load_ansible(path)
    assert settings(inv.hosts["web1"]) == {"user": "deploy", "vars": {"keep": 1}}
    assert SECRET not in repr(inv)  # the warnings included
    assert not any(SECRET in w for w in inv.warnings)
    (warning,) = inv.warnings
    assert warning.startswith(f"{path}:2: host 'web1': {name} ignored")
    assert "password_env" in warning


@pytest.mark.parametrize("name", SECRETS)
def test_secrets_in_yaml_group_vars_are_dropped_and_never_shown(
    write_inv: Write, name: str
) -> None:
    path = write_inv(
        f"""\
        all:
          vars:
            {name}: {SECRET}
          children:
            web:
              hosts:
                web1:
                  {name}: "{SECRET}"
              vars:
                {name}: "{SECRET}"
        """
    )
    inv = load_ansible(path)
    assert (
        settings(inv.groups["all"]) == {}
        and settings(inv.hosts["web1"]) == {}
        and settings(inv.groups["web"]) == {}
    )
    assert SECRET not in repr(inv)
    assert inv.warnings == [
        f"{path}:3: group 'all': {name} ignored: " + ADVICE,
        f"{path}:8: host 'web1': {name} ignored: " + ADVICE,
        f"{path}:10: group 'web': {name} ignored: " + ADVICE,
    ]


def test_secrets_in_ini_group_vars_are_dropped(write_inv: Write) -> None:
    path = write_inv(f"[web]\nweb1\n[web:vars]\nansible_become_pass = '{SECRET}'\n", "inv.ini")
    inv = load_ansible(path)
    assert SECRET not in repr(inv)
    assert inv.warnings[0].startswith(f"{path}:4: group 'web': ansible_become_pass ignored")


def test_a_vaulted_become_password_is_kept_encrypted(write_inv: Write) -> None:
    inv = load_ansible(
        write_inv(
            """\
            all:
              hosts:
                web1:
                  ansible_become_password: !vault |
                    $ANSIBLE_VAULT;1.1;AES256
                    62313365396662343061393464336163383764373764613633653634306231386433626436623361
            """
        )
    )
    # Kept, still encrypted: hostops uses a vaulted become password for sudo.
    (name, var), *_ = inv.hosts["web1"].variables.items()
    assert name == "ansible_become_password" and isinstance(var.value, Vaulted)
    assert var.value.name == "ansible_become_password"
    assert "ANSIBLE_VAULT" not in repr(inv) and "6231336539" not in repr(inv)
    assert inv.warnings == []


def test_other_password_looking_variables_are_free_vars(write_inv: Write) -> None:
    # Only Ansible's connection secrets are dropped; the user's own variables are theirs.
    inv = load_ansible(write_inv("h1 db_password=x ansible_sshpass_prompt=p\n", "inv.ini"))
    assert settings(inv.hosts["h1"]) == {
        "vars": {"db_password": "x", "ansible_sshpass_prompt": "p"}
    }


# --------------------------------------------------------------------------- format detection


def test_format_detection(write_inv: Write) -> None:
    yaml_text = "all:\n  hosts:\n    h1:\n"
    assert list(load_ansible(write_inv(yaml_text, "inventory")).hosts) == ["h1"]
    assert list(load_ansible(write_inv("h1\nh2 a=1\n", "inventory")).hosts) == ["h1", "h2"]
    assert list(load_ansible(write_inv("[web]\nh1\n", "inventory")).hosts) == ["h1"]
    assert list(load_ansible(write_inv("[web]\nh1\n", "hosts.txt")).hosts) == ["h1"]
    # Not YAML in a .yaml file: Ansible's INI plugin reads it after its YAML plugin fails.
    assert list(load_ansible(write_inv("[web]\nh1\n", "hosts.yaml")).hosts) == ["h1"]
    with pytest.raises(ConfigError, match="invalid YAML"):  # neither: the YAML complaint
        load_ansible(write_inv("[web\nh1: [\n", "hosts.yaml"))


def test_an_executable_file_without_interpreter_line_is_read(write_inv: Write) -> None:
    path = write_inv("[web]\nh1\n", "hosts")
    path.chmod(0o755)
    assert list(load_ansible(path).hosts) == ["h1"]


def test_yaml_keys_ansible_skips_are_warnings(write_inv: Write) -> None:
    path = write_inv(
        """\
        all:
          children:
            web:
              hosts: {web1: }
              host:
                web2:
              empty:
        top_scalar: 3
        """
    )
    inv = load_ansible(path)
    assert list(inv.hosts) == ["web1"]
    assert inv.warnings == [
        f"{path}:5: group 'web': ignored key 'host' (a group has only hosts, children and vars)",
        f"{path}:8: skipped 'top_scalar': a group must be a mapping",
    ]


def test_same_name_for_a_host_and_a_group_warns(write_inv: Write) -> None:
    path = write_inv("[web]\nweb\n", "inv.ini")
    assert load_ansible(path).warnings == [
        f"{path}: 'web' is both a host and a group (Ansible warns too)"
    ]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            "h1 ansible_port=http\n",
            1,
            "host 'h1': ansible_port must be a port number from 1 to 65535, not 'http'",
        ),
        ("h1 ansible_port=70000\n", 1, "must be a port number from 1 to 65535, not 70000"),
        ("h1 ansible_ssh_port=True\n", 1, "host 'h1': ansible_ssh_port must be a port number"),
        ("h1:0\n", 1, "host 'h1': ansible_port must be a port number from 1 to 65535, not 0"),
        (
            "[g]\nh1\n[g:vars]\nx=1\nansible_port=[22]\n",
            5,
            "host 'h1': ansible_port must be a port number",
        ),
        (
            "h1 ansible_connection=docker\n",
            1,
            "host 'h1': ansible_connection 'docker' is not supported",
        ),
        (
            "[g]\nh1\n[g:vars]\nansible_connection=winrm\n",
            4,
            "host 'h1': ansible_connection 'winrm' is not supported",
        ),
        (
            'h1 ansible_host=\'{{ lookup("env", "X") }}\'\n',
            1,
            "host 'h1': ansible_host: Jinja templates are not supported",
        ),
        ("h1 ansible_user=''\n", 1, "host 'h1': ansible_user must be a non-empty string"),
        ("h1 ansible_ssh_common_args='-J {{ jump }}'\n", 1, "Jinja templates are not supported"),
        ('h1 ansible_ssh_extra_args="-o \'ProxyJump=a"\n', 1, "cannot split the ssh arguments"),
        (
            "h1 ansible_ssh_extra_args=[1]\n",
            1,
            "host 'h1': ansible_ssh_extra_args must be a string",
        ),
        ("h1 ansible_ssh_common_args='-F /x'\n", 1, "cannot use '-F'"),
        ("h1 ansible_ssh_common_args='-o Port'\n", 1, "-o 'Port': expected Key=Value"),
        ("h1 ansible_become=yes ansible_become_user=''\n", 1, "ansible_become_user must be"),
        ("[g]\nh1\n[g:vars]\nansible_group_priority=high\n", 4, "must be a number, not 'high'"),
        ("[g]\nh1\n[g:hosts]\nh2\n[g:bogus]\n", 5, "section [g:bogus] has an unknown type"),
        ("[g x]\n", 1, "invalid section header '[g x]'"),
        ("h1 ansible_user deploy\n", 1, "host 'h1': word 2 on the line is not key=value"),
        ("h1 =x\n", 1, "word 2 on the line is not key=value"),
        ("[g]\nh1\n[g:vars]\nnovalue\n", 4, "expected key=value in a [group:vars] section"),
        ("[g:vars]\nx=1\n[h]\nh1\n", 1, "[g:vars] is for group 'g', which is never declared"),
        (
            "[usa:children]\nsoutheast\nnortheast\n[southeast]\nh1\n",
            3,
            "[usa:children] names group 'northeast', which is never declared",
        ),
        (
            "[a:children]\nb\n[b:children]\na\n",
            4,
            "group 'a' as a child of 'b' makes a loop of groups",
        ),
        ("[a:children]\na\n", 2, "group 'a' as a child of 'a' makes a loop"),
        ("[a:children]\nall\n", 2, "group 'all' cannot be a child of group 'a'"),
        ("[a:children]\nx=1\n", 2, "[a:children] lists group names, one a line"),
        ("h1 x='unclosed\n", 1, "cannot read the host line: No closing quotation"),
        ("[web]\nwww[01:5].example.com\n", 2, "bad host range:"),
        ("[web]\nwww[5:1]\n", 2, "bad host range:"),
        ("[web]\nwww[1:2\n", 2, "bad host range:"),
        ("h1:\n", 1, "bad host 'h1:': a ':' after the name must be followed by a port number"),
        ("---\n", 1, "'---' is not a host name"),
        ("ansible_password=x\n", 1, "a host name cannot contain '='"),
    ],
)
def test_ini_errors_name_the_line(write_inv: Write, text: str, line: int, expected: str) -> None:
    path = write_inv(text, "inv.ini")
    reason = reason_at(error(path), path, line)
    assert expected in reason


def test_an_ini_error_never_shows_a_stray_word(write_inv: Write) -> None:
    err = error(write_inv(f"web1 ansible_password= {SECRET}\n", "inv.ini"))
    assert SECRET not in str(err)


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n",
            1,
            "inventory plugins are not supported (plugin: amazon.aws.aws_ec2)",
        ),
        (
            "all:\n  hosts:\n    h1:\n      ansible_port: 22x\n",
            4,
            "host 'h1': ansible_port must be a port number",
        ),
        (
            "all:\n  hosts:\n    h1:\n  vars:\n    ansible_connection: docker\n",
            5,
            "host 'h1': ansible_connection 'docker' is not supported",
        ),
        (
            "all:\n  hosts:\n    h1:\n      ansible_user: !unsafe 'u{{x}}'\n",
            4,
            "Jinja templates are not supported",
        ),
        (
            "all:\n  hosts:\n    h1:\n      ansible_private_key_file: [a]\n",
            4,
            "ansible_private_key_file must be a non-empty string",
        ),
        (
            "all:\n  hosts:\n    h1:\n      ansible_port: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n",
            4,
            "ansible_port must be a port number from 1 to 65535, not a vaulted value",
        ),
        ("all:\n  vars:\n    x: !vault [1]\n", 3, "a !vault value must be a text block"),
        ("all:\n  vars:\n    x: !custom 1\n", 3, "invalid YAML"),
        ("all:\n  hosts:\n    - h1\n    - h2\n", 2, "hosts of group 'all' must be a mapping"),
        ("all:\n  hosts:\n    h1: 5\n", 3, "the variables of host 'h1' must be a mapping"),
        ("all:\n  children:\n    web: [h1]\n", 3, "group 'web' must be a mapping"),
        (
            "all:\n  children:\n    web:\n      children:\n        all:\n",
            5,
            "group 'all' cannot be a child of group 'web'",
        ),
        # Ansible links a child after reading its body, so the outer link closes the loop.
        (
            "a:\n  children:\n    b:\n      children:\n        a:\n",
            3,
            "group 'b' as a child of 'a' makes a loop",
        ),
        ("all:\n  hosts:\n    h1:\n    h1:\n", 4, "duplicate key 'h1'"),
        ("all:\n  hosts:\n    web[1:x]:\n", 3, "bad host range:"),
        ("all:\n  hosts:\n    h1:\n\tvars: {}\n", 4, "invalid YAML"),
    ],
)
def test_yaml_errors_name_the_line(write_inv: Write, text: str, line: int, expected: str) -> None:
    path = write_inv(text)
    reason = reason_at(error(path), path, line)
    assert expected in reason


def test_unsupported_and_unreadable_files(write_inv: Write, tmp_path: Path) -> None:
    vaulted = write_inv("$ANSIBLE_VAULT;1.1;AES256\n6231336539\n", "vaulted.yml")
    assert "vault-encrypted inventory: vaulted, and no vault password was given" in reason_at(
        error(vaulted), vaulted, 1
    )

    toml = write_inv("[web.hosts.h1]\n", "hosts.toml")
    assert "TOML inventories are not supported" in reason_at(error(toml), toml, None)

    folder = tmp_path / "inventory"
    folder.mkdir()
    (folder / "README.md").write_text("ignored, as by Ansible\n")
    assert reason_at(error(folder), folder, None) == "no inventory file in this directory"

    missing = tmp_path / "missing.ini"
    assert reason_at(error(missing), missing, None) == "no such file"

    binary = write_inv("", "bin.ini")
    binary.write_bytes(b"h1\n\xff\n")
    assert "not UTF-8" in reason_at(error(binary), binary, 2)


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.1",
        "1.2.3",
        "1.5",
        "1.5e3",
        "1.5-2.5j",
        "web1.example.com",
        "a.b",
        "True.real",
        "_1.5",
        "x.1",
        "1_0.5.2",
        "0x1f",
        "2222",
        "007",
        "None",
        "a.b-c",
        "[1.5, 2.5]",
        "1.2.3.4j",
    ],
)
def test_ini_values_read_without_compile_are_what_literal_eval_gives(text: str) -> None:
    from hostops.inventory.ansible import _ini_value, _literal

    assert _ini_value(text) == _literal(text)
    assert type(_ini_value(text)) is type(_literal(text))
