"""Every playbook in examples/ loads, binds to an inventory and shows in check mode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hostops.errors import ConfigError
from hostops.models import Host
from hostops.playbook import Would, check, load_playbook, prepare

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample alice@example"


def inventory() -> list[Host]:
    return [
        Host(f"web0{i}", f"10.0.0.{i}", groups=("web",), vars={"ssh_key": KEY}) for i in (1, 2, 3)
    ]


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES.glob("*.yaml")} >= {
        "rolling-restart.yaml",
        "disk-usage.yaml",
        "ssh-key-rollout.yaml",
    }


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_each_example_is_valid_for_every_host(path: Path) -> None:
    plan = prepare(load_playbook(path), inventory())
    report = check(plan)
    assert all(t.would is not Would.ERROR for p in report.plays for h in p.hosts for t in h.tasks)


def test_the_rolling_restart_goes_one_host_at_a_time() -> None:
    plan = prepare(load_playbook(EXAMPLES / "rolling-restart.yaml"), inventory())
    assert [[h.name for h in b] for b in plan.plays[0].batches] == [["web01"], ["web02"], ["web03"]]


def test_the_key_rollout_needs_a_key_before_anything_runs() -> None:
    hosts = [Host("web01", "10.0.0.1")]
    with pytest.raises(
        ConfigError,
        match=r"ssh-key-rollout.yaml:\d+: .*undefined variable 'ssh_key' for host web01",
    ):
        prepare(load_playbook(EXAMPLES / "ssh-key-rollout.yaml"), hosts)


def test_the_demo_service_script_is_valid_sh() -> None:
    subprocess.run(["sh", "-n", str(EXAMPLES / "files" / "demo-service.sh")], check=True)
