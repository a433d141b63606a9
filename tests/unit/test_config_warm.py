"""``persist`` in the configuration file makes commands warm: the thin client
(hostops.keeper.persist.wanted) reads it before the command line loads, with the
command line's ranking (command line > HOSTOPS_PERSIST > file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostops.keeper import persist


@pytest.mark.parametrize(
    ("argv", "env", "text", "wanted"),
    [
        (["run", "true"], {}, 'persist = "10m"\n', 600.0),
        (["put", "a", "b"], {}, "persist = 90\n", 90.0),
        (["play", "p.yaml"], {}, 'persist = "2h"\n', 7200.0),
        (["run", "true"], {"HOSTOPS_PERSIST": "1m"}, 'persist = "10m"\n', 60.0),
        (["run", "true"], {"HOSTOPS_PERSIST": "0"}, 'persist = "10m"\n', None),
        (["run", "true"], {"HOSTOPS_PERSIST": ""}, 'persist = "10m"\n', 600.0),  # empty: unset
        (["run", "--persist", "30s", "true"], {}, 'persist = "10m"\n', 30.0),
        (["run", "--no-persist", "true"], {}, 'persist = "10m"\n', None),
        (["run", "true"], {}, "persist = false\n", None),
        (["run", "true"], {}, 'persist = "soon"\n', None),  # the command line says why
        (["run", "true"], {}, "persist = = \n", None),  # broken file: likewise
        (["run", "true"], {}, "forks = 3\n", None),
        (["inventory"], {}, 'persist = "10m"\n', None),  # never warm
        (["run", "--help"], {}, 'persist = "10m"\n', None),
    ],
)
def test_the_files_persist_makes_commands_warm(
    tmp_path: Path, argv: list[str], env: dict[str, str], text: str, wanted: float | None
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    assert persist.wanted(argv, {"HOSTOPS_CONFIG": str(config), **env}) == wanted


def test_the_default_place_counts_too(tmp_path: Path) -> None:
    (tmp_path / "hostops").mkdir()
    (tmp_path / "hostops" / "config.toml").write_text('persist = "5m"\n')
    assert persist.wanted(["run", "true"], {"XDG_CONFIG_HOME": str(tmp_path)}) == 300.0
    assert persist.wanted(["run", "true"], {"XDG_CONFIG_HOME": str(tmp_path / "no")}) is None
