"""``hostops completion bash|zsh|fish``: the script each prints, loaded in the real shell,
offers commands, options, option values, the inventory's hosts and groups, and the
recorded runs -- and completing never runs a dynamic inventory script unless told.

bash: the completion function called as bash's programmable completion calls it
(COMP_WORDS, COMP_CWORD), COMPREPLY read back. fish: its own completion engine
(``complete -C``). zsh: the function called with ``words``/``CURRENT`` as zsh's
completion system sets them, and what it hands to ``_arguments`` printed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hostops.testing.pytest_plugin import run_hostops

STATIC = """\
all:
  children:
    webservers:
      hosts:
        web1: {ansible_connection: local}
        web2: {ansible_connection: local}
    dbservers:
      hosts:
        db1: {ansible_connection: local}
"""


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a shell where ``hostops`` is this checkout's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "hostops"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hostops "$@"\n')
    wrapper.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(STATIC)
    return path


def bash_complete(env: dict[str, str], *words: str) -> list[str]:
    """What bash offers for the command line ``words`` (the last one being typed)."""
    script = (
        'eval "$(hostops completion bash)"\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()\n'
        '_hostops_completion hostops "${COMP_WORDS[COMP_CWORD]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    return [line for line in _shell(env, "bash", "--norc", "-c", script, "bash", *words) if line]


def fish_complete(env: dict[str, str], line: str) -> list[str]:
    """What fish's completion engine offers for ``line`` (values only, no descriptions)."""
    script = f"hostops completion fish | source; complete -C{line!r}"
    return [
        entry.split("\t")[0] for entry in _shell(env, "fish", "--no-config", "-c", script) if entry
    ]


def zsh_complete(env: dict[str, str], *words: str) -> str:
    """What the zsh function hands zsh's completion system for ``words``."""
    script = (
        "autoload -U compinit && compinit -u -D\n"
        'eval "$(hostops completion zsh)"\n'
        '_arguments() { print -rl -- "$@" }\n'
        'words=("$@"); CURRENT=$#\n'
        "_hostops_completion\n"
    )
    return "\n".join(_shell(env, "zsh", "-f", "-c", script, "zsh", *words))


def _shell(env: dict[str, str], *argv: str) -> list[str]:
    """The lines a shell's run of ``argv`` prints; it must succeed and say nothing on stderr."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=120)
    assert done.stderr == "", done.stderr
    return done.stdout.splitlines()


def _records(inventory: Path, count: int) -> list[str]:
    """Run ids of ``count`` real (local) runs, newest first."""
    for _ in range(count):
        done = run_hostops("run", "-i", str(inventory), "-o", "quiet", "true")
        assert done.returncode == 0, done.stderr
    runs = Path(os.environ["XDG_STATE_HOME"]) / "hostops" / "runs"
    return sorted((p.name.removesuffix(".jsonl") for p in runs.iterdir()), reverse=True)


def test_bash_commands_options_and_values(shell_env: dict[str, str]) -> None:
    commands = bash_complete(shell_env, "hostops", "")
    for name in ("run", "put", "get", "play", "inventory", "show", "config", "completion"):
        assert name in commands
    assert bash_complete(shell_env, "hostops", "ru") == ["run"]
    assert bash_complete(shell_env, "hostops", "run", "--host-key") == ["--host-key-policy"]
    assert sorted(bash_complete(shell_env, "hostops", "run", "--host-key-policy", "")) == [
        "accept-new",
        "off",
        "strict",
    ]
    assert "gather" in bash_complete(shell_env, "hostops", "show", "-o", "")
    assert bash_complete(shell_env, "hostops", "run", "--rerun", "ok,unre") == ["ok,unreachable"]
    assert sorted(bash_complete(shell_env, "hostops", "completion", "")) == ["bash", "fish", "zsh"]


def test_bash_limit_offers_hosts_and_groups_of_the_inventory(
    shell_env: dict[str, str], inventory: Path
) -> None:
    def limit(word: str) -> list[str]:
        return sorted(bash_complete(shell_env, "hostops", "run", "-i", str(inventory), "-l", word))

    assert limit("web") == ["web1", "web2", "webservers"]  # a partial group name
    assert limit("db") == ["db1", "dbservers"]
    assert limit("webservers,d") == ["webservers,db1", "webservers,dbservers"]
    assert limit("web1,!d") == ["web1,!db1", "web1,!dbservers"]
    assert limit("~web") == []  # a regular expression: nothing to offer
    hosts = bash_complete(shell_env, "hostops", "inventory", "-i", str(inventory), "-H", "web1,d")
    assert hosts == ["web1,db1"]  # hosts only


def test_bash_limit_reads_the_inventory_of_the_config_file_and_the_environment(
    shell_env: dict[str, str], inventory: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'inventory = "{inventory.name}"\n')
    env = {**shell_env, "HOSTOPS_CONFIG": str(config)}
    assert sorted(bash_complete(env, "hostops", "run", "-l", "db")) == ["db1", "dbservers"]
    other = tmp_path / "other.ini"
    other.write_text("[cache]\nmem1\n")
    env["HOSTOPS_INVENTORY"] = str(other)  # outranks the file, as in a run
    assert sorted(bash_complete(env, "hostops", "run", "-l", "")) == [
        "all",
        "cache",
        "mem1",
        "ungrouped",
    ]


def test_bash_run_ids_for_show_and_from_run(shell_env: dict[str, str], inventory: Path) -> None:
    ids = _records(inventory, 2)
    assert bash_complete(shell_env, "hostops", "show", "") == ["last", *ids]
    assert bash_complete(shell_env, "hostops", "show", ids[1][:-2]) == [ids[1]]
    assert bash_complete(shell_env, "hostops", "report", "") == ["last", *ids]
    offered = bash_complete(shell_env, "hostops", "run", "--rerun", "failed", "--from-run", "")
    assert offered == ["last", *ids]


def test_a_dynamic_inventory_script_is_not_run_unless_allowed(
    shell_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "script-ran"
    script = tmp_path / "inventory.py"
    script.write_text(
        "#!/bin/sh\n"
        f'touch "{marker}"\n'
        'echo \'{"secret": {"hosts": ["s1"]}, "_meta": {"hostvars": {}}}\'\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    words = ("hostops", "run", "-i", str(script), "-l", "s")
    assert bash_complete(shell_env, *words) == []
    assert not marker.exists()
    # a directory holding it: the static files are read, the script still not run
    both = tmp_path / "both"
    both.mkdir()
    shutil.copy2(script, both / "inventory.py")
    (both / "static.ini").write_text("[sql]\nsql1\n")
    assert sorted(bash_complete(shell_env, "hostops", "run", "-i", str(both), "-l", "s")) == [
        "sql",
        "sql1",
    ]
    assert not marker.exists()
    allowed = {**shell_env, "HOSTOPS_COMPLETE_DYNAMIC": "1"}
    assert sorted(bash_complete(allowed, *words)) == ["s1", "secret"]
    assert marker.exists()


def test_fish(shell_env: dict[str, str], inventory: Path) -> None:
    assert "completion" in fish_complete(shell_env, "hostops ")
    assert fish_complete(shell_env, "hostops run --host-key-policy ") == [
        "accept-new",
        "off",
        "strict",
    ]
    assert fish_complete(shell_env, f"hostops run -i {inventory} -l web") == [
        "web1",
        "web2",
        "webservers",
    ]
    ids = _records(inventory, 1)
    assert sorted(fish_complete(shell_env, "hostops show ")) == sorted(["last", *ids])  # fish sorts


def test_zsh(shell_env: dict[str, str], inventory: Path) -> None:
    offered = zsh_complete(shell_env, "hostops", "")
    assert '"run":"Run COMMAND on every selected host' in offered
    assert '"completion"' in offered
    limit = zsh_complete(shell_env, "hostops", "run", "-i", str(inventory), "-l", "web")
    assert limit.strip() == '*: :(("web1" "web2" "webservers"))'
    ids = _records(inventory, 1)
    assert zsh_complete(shell_env, "hostops", "show", "").strip() == (f'*: :(("last" "{ids[0]}"))')
