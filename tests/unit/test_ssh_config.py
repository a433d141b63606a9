"""ssh_config in hostops: the resolver's own rules (errors, files), and the one place a
host's connection settings are resolved (precedence, origins, the connection identity).

What OpenSSH itself does with a file is checked against ``ssh -G`` in
test_ssh_config_oracle.py; these are the parts ssh has no opinion on, or that a
differential test cannot show (what a Match exec command may see)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hostops
from hostops.errors import ConfigError
from hostops.host.settings import Overrides, resolve_connection
from hostops.host.ssh_config import SshConfig
from hostops.models import Host, HostKeyPolicy


def _config(tmp_path: Path, text: str) -> SshConfig:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return SshConfig.from_file(path)


def test_an_include_loop_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "loop"
    path.write_text(f"Include {path}\n")
    with pytest.raises(ConfigError, match="Include nested more than 16 levels"):
        SshConfig.from_file(path).resolve("x")


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        SshConfig.from_file(tmp_path / "nope")


def test_an_included_file_others_may_write_is_refused_as_ssh_refuses_it(tmp_path: Path) -> None:
    included = tmp_path / "inc.conf"
    included.write_text("User x\n")
    included.chmod(0o666)
    config = _config(tmp_path, f"Include {included}\n")
    with pytest.raises(ConfigError, match="bad owner or permissions"):
        config.resolve("h")


def test_a_bad_line_names_its_file_and_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host a\n  Port 22\n  NoSuchOption yes\n")
    with pytest.raises(ConfigError) as err:
        config.resolve("a")
    assert str(err.value) == f"{tmp_path}/ssh_config:3: bad configuration option: nosuchoption"


def test_the_default_files_are_the_users_then_the_systems(
    tmp_path: Path, isolated_home: Path
) -> None:
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "config").write_text("Host web\n  User from-home\n")
    found = SshConfig.default().resolve("web")
    assert found.user == "from-home"
    assert found.origins["user"] == f"{isolated_home}/.ssh/config:2"


# --------------------------------------------------------------------------- precedence


def _inventory(write_inv, text: str, **kw: object) -> dict[str, Host]:
    return {h.name: h for h in hostops.load_inventory(write_inv(text), **kw)}


def test_inventory_beats_ssh_config_and_flags_beat_both(write_inv, tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    config.write_text(
        "Host *\n  User cfg-user\n  Port 2000\n  HostName cfg.example\n"
        "  StrictHostKeyChecking accept-new\n  ConnectTimeout 7\n"
    )
    text = "hosts:\n  a:\n    port: 3000\n  b:\n    address: 10.0.0.2\n"
    hosts = _inventory(write_inv, text, ssh_config=config)
    a, b = hosts["a"], hosts["b"]
    assert (a.user, a.port, a.address) == ("cfg-user", 3000, "cfg.example")
    assert (b.user, b.port, b.address) == ("cfg-user", 2000, "10.0.0.2")
    assert a.host_key_policy is HostKeyPolicy.ACCEPT_NEW
    assert a.ssh.connect_timeout == 7
    assert a.origins["port"].endswith(".yaml:3")  # the inventory's line for host a
    assert a.origins["user"] == f"{config}:2"
    assert a.origins["connect_timeout"] == f"{config}:6"
    flagged = _inventory(
        write_inv,
        text,
        ssh_config=config,
        overrides=Overrides(user="flag", port=1, connect_timeout=3.0),
    )["a"]
    assert (flagged.user, flagged.port, flagged.ssh.connect_timeout) == ("flag", 1, 3.0)
    assert (flagged.origins["user"], flagged.origins["connect_timeout"]) == (
        "--user",
        "--connect-timeout",
    )


def test_match_user_sees_the_inventorys_user(write_inv, tmp_path: Path) -> None:
    """The inventory's settings are given as ssh's command line gives them."""
    config = tmp_path / "cfg"
    config.write_text("Match user deploy\n  Port 2222\n")
    hosts = _inventory(write_inv, "hosts:\n  a:\n    user: deploy\n  b:\n", ssh_config=config)
    assert (hosts["a"].port, hosts["b"].port) == (2222, 22)


def test_an_inventory_jump_wins_over_ssh_configs_proxycommand(write_inv, tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    config.write_text("Host *\n  ProxyCommand nc %h %p\n")
    hosts = _inventory(
        write_inv, "hosts:\n  a:\n    jump: gate\n  b:\n  c:\n    jump: none\n", ssh_config=config
    )
    assert (hosts["a"].jump, hosts["a"].ssh.proxy_command) == ("gate", None)
    assert hosts["b"].ssh.proxy_command == "exec nc b 22"
    assert (hosts["c"].jump, hosts["c"].ssh.proxy_command) == (None, None)


def test_the_connection_identity_follows_every_connection_setting(write_inv) -> None:
    text = "hosts:\n  a:\n  b:\n  c:\n    port: 2222\n  d:\n    vars: {x: 1}\n"
    hosts = _inventory(write_inv, text, ssh_config=False)
    again = _inventory(write_inv, text, ssh_config=False)
    assert hosts["a"].connection_id == again["a"].connection_id
    ids = {h.connection_id for h in hosts.values()}
    assert len(ids) == 4  # a, b differ by address; c by port; d by address
    same_but_vars = _inventory(write_inv, "hosts:\n  a:\n    vars: {y: 2}\n", ssh_config=False)
    assert same_but_vars["a"].connection_id == hosts["a"].connection_id


def test_refused_and_ignored_options_are_listed_with_their_line(write_inv, tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    config.write_text(
        "Host *\n  ControlMaster auto\n  ForwardAgent no\n  KnownHostsCommand /bin/true\n"
    )
    (a,) = hostops.load_inventory(write_inv("hosts:\n  a:\n"), ssh_config=config)
    assert a.ssh.refused == (f"KnownHostsCommand ({config}:4)",)
    assert a.ssh.ignored == (f"ControlMaster ({config}:2)",)  # ForwardAgent no: the default


def test_ansible_ssh_common_args_reach_the_resolver(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.ini"
    inv.write_text(
        "[web]\nweb1 ansible_host=10.0.0.1\n"
        "[web:vars]\nansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p -q gate\" -o ServerAliveInterval=5'\n"
    )
    (web1,) = hostops.load_inventory(inv, ssh_config=False)
    assert web1.ssh.proxy_command == "exec ssh -W 10.0.0.1:22 -q gate"
    assert web1.ssh.server_alive_interval == 5


# --------------------------------------------------------------------------- names reaching a shell


@pytest.mark.parametrize(
    "name", ["x$(touch {f})", "a;touch {f}", "`touch {f}`", "-oProxyCommand=touch {f}"]
)
def test_a_host_name_with_shell_characters_is_refused_before_any_lookup(
    tmp_path: Path, name: str
) -> None:
    flag = tmp_path / "ran"
    config = _config(tmp_path, 'Match exec "echo %h >/dev/null"\n  User x\n')
    bad = name.format(f=flag)
    with pytest.raises(ConfigError, match="contains characters OpenSSH refuses"):
        resolve_connection(Host(name=bad, address=bad), ssh_config=config)
    assert not flag.exists()


def test_an_address_with_shell_characters_is_refused_too(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host *\n  ProxyCommand nc %h %p\n")
    with pytest.raises(ConfigError, match="address"):
        resolve_connection(
            Host(name="ok", address="x$(id)", origins={"address": "inv.yaml:3"}),
            ssh_config=config,
        )


def test_match_exec_never_sees_hostops_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "env"
    monkeypatch.setenv("HOSTOPS_PASSWORD", "pw-secret")
    monkeypatch.setenv("HOSTOPS_SUDO_PASSWORD", "sudo-secret")
    monkeypatch.setenv("DB_PASSWORD", "host-secret")
    monkeypatch.setenv("VISIBLE", "yes")
    config = _config(tmp_path, f'Match exec "env > {out}"\n  User x\n')
    (host,) = [
        resolve_connection(
            Host(name="h", address="h", password_env="DB_PASSWORD"),
            ssh_config=config,
            secret_names={"DB_PASSWORD"},
        )
    ]
    env = out.read_text()
    assert "VISIBLE=yes" in env and host.user == "x"
    for secret in ("pw-secret", "sudo-secret", "host-secret"):
        assert secret not in env
    assert os.environ["HOSTOPS_PASSWORD"] == "pw-secret"  # only the child's is scrubbed


# --------------------------------------------------------------------------- the README


def test_the_readme_lists_every_deliberate_difference_and_every_refused_option() -> None:
    from hostops.host.ssh_config import DIFFERENCES, Use, by_use

    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    for row in DIFFERENCES:
        assert f"| {row.what} | {row.why} |" in readme
    section = readme[readme.index("### ssh_config") : readme.index("### Host patterns")]
    for name in by_use(Use.REFUSED) + by_use(Use.HONOURED):
        assert f"`{name}" in section, name
