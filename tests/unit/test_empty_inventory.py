"""An inventory that yields no host is an error naming the file, never a silent success
(issue 14); Ansible's own ansible-inventory agrees that these files hold no host."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostops.errors import EXIT_USAGE, ConfigError
from hostops.inventory import build, load_inventory, load_raw, select_names


def _ansible_hosts(path: Path) -> list[str]:
    tool = shutil.which("ansible-inventory") or str(
        Path(sys.executable).parent / "ansible-inventory"
    )
    out = subprocess.run(
        [tool, "-i", str(path), "--list"], capture_output=True, text=True, check=True
    )
    groups = json.loads(out.stdout)
    return sorted({h for name, g in groups.items() if name != "_meta" for h in g.get("hosts", [])})


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("only-groups.ini", "[web]\n[db]\n"),
        ("groups-only.yaml", "all:\n  children:\n    web:\n"),
    ],
)
def test_zero_hosts_is_an_error_naming_the_file(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert _ansible_hosts(path) == []  # the reference reads no host either
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert err.value.exit_code == EXIT_USAGE
    assert str(err.value).startswith(f"{path}: no hosts in this inventory")
    assert load_inventory(path, allow_empty=True) == []


def test_a_one_key_native_file_with_a_misspelt_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("host:\n  web01:\n  web02:\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert str(err.value) == (
        f"{path}:1: unknown key 'host' in the inventory (did you mean 'hosts'?"
        " allowed: defaults, hosts, groups)"
    )
    # The same as with defaults beside it.
    beside = tmp_path / "beside.yaml"
    beside.write_text("defaults: {user: x}\nhost:\n  web01:\n")
    with pytest.raises(ConfigError, match="did you mean 'hosts'"):
        load_inventory(beside)
    # An Ansible group of that shape stays an Ansible group.
    group = tmp_path / "group.yaml"
    group.write_text("host:\n  hosts:\n    web01:\n")
    assert [h.name for h in load_inventory(group)] == ["web01"] == _ansible_hosts(group)


def test_limit_all_on_an_empty_inventory_does_not_suggest_all(tmp_path: Path) -> None:
    path = tmp_path / "empty.ini"
    path.write_text("[web]\n")
    with pytest.raises(ConfigError) as err:
        select_names(build(load_raw(path)), "all")
    assert "did you mean" not in str(err.value) and "no hosts" in str(err.value)
