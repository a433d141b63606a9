"""--cluster / $HOSTOPS_CLUSTER: addresses parsed and judged before Dask is imported."""

from __future__ import annotations

import pytest

from hostops.cluster import cluster_address
from hostops.cluster.address import (
    ClusterAddress,
    parse_address,
    plain_text_warning,
    refuse_plain_secrets,
)
from hostops.errors import EXIT_USAGE, UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tls://sched.example:8786", ClusterAddress("tls", "sched.example", 8786)),
        ("tls://10.1.2.3", ClusterAddress("tls", "10.1.2.3", 8786)),
        ("tcp://127.0.0.1:9000/", ClusterAddress("tcp", "127.0.0.1", 9000)),
        ("tls://[::1]:8786", ClusterAddress("tls", "::1", 8786)),
        ("  tcp://h:1 ", ClusterAddress("tcp", "h", 1)),
    ],
)
def test_addresses_parse(text: str, expected: ClusterAddress) -> None:
    assert parse_address(text) == expected


def test_an_address_prints_as_dask_takes_it() -> None:
    assert str(parse_address("tls://[::1]")) == "tls://[::1]:8786"
    assert str(parse_address("tcp://h")) == "tcp://h:8786"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("sched:8786", "not a cluster address"),
        ("ws://sched:8786", "ws:// is not supported"),
        ("inproc://x", "inproc:// is not supported"),
        ("tls://sched:0", "port must be from 1 to 65535"),
        ("tls://sched:70000", "port must be from 1 to 65535"),
        ("tls://[::1::2]:1", "is not an IPv6 address"),
        ("tls://a b", "not a cluster address"),
        ("tls://sched:port", "not a cluster address"),
    ],
)
def test_bad_addresses_are_one_line_usage_errors(text: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_address(text)
    message = str(caught.value)
    assert message.startswith(f"--cluster {text!r}: ") and why in message
    assert "\n" not in message and caught.value.exit_code == EXIT_USAGE


def test_the_option_wins_over_the_environment() -> None:
    env = {"HOSTOPS_CLUSTER": "tls://from-env"}
    assert cluster_address("tcp://opt", env) == ClusterAddress("tcp", "opt")
    assert cluster_address(None, env) == ClusterAddress("tls", "from-env")
    assert cluster_address(None, {}) is None
    assert cluster_address(None, {"HOSTOPS_CLUSTER": " "}) is None
    with pytest.raises(UsageError, match=r"^\$HOSTOPS_CLUSTER 'nope': "):
        cluster_address(None, {"HOSTOPS_CLUSTER": "nope"})


@pytest.mark.parametrize(
    ("text", "warned"),
    [
        ("tcp://10.0.0.5:8786", True),
        ("tcp://sched.example", True),  # a name may resolve anywhere
        ("tcp://127.0.0.1", False),
        ("tcp://127.42.0.7", False),
        ("tcp://localhost", False),
        ("tcp://[::1]", False),
        ("tls://10.0.0.5", False),
    ],
)
def test_plain_text_beyond_loopback_is_warned_about(text: str, warned: bool) -> None:
    warning = plain_text_warning(parse_address(text))
    assert (warning is not None) == warned
    if warning:
        assert "\n" not in warning and "tls://" in warning and str(parse_address(text)) in warning


def test_secrets_are_refused_over_plain_tcp_even_on_loopback() -> None:
    with pytest.raises(UsageError) as caught:
        refuse_plain_secrets(parse_address("tcp://127.0.0.1"), ["--ask-pass", "password_env X"])
    assert str(caught.value) == (
        "--ask-pass (and 1 more): secrets are never sent over a plain tcp:// cluster"
        " (tcp://127.0.0.1:8786): use a tls:// one"
    )
    refuse_plain_secrets(parse_address("tcp://10.0.0.1"), [])  # no secret: no refusal
    refuse_plain_secrets(parse_address("tls://10.0.0.1"), ["--ask-pass"])
