"""The canary for hostops/host/ssh/_paramiko.py: paramiko's private API that hostops relies on
is still there and still behaves as the hooks expect. A failure here means a paramiko release
changed it: adapt _paramiko.py (and the version bound in pyproject.toml) before anything else."""

from __future__ import annotations

import socket

import paramiko
import pytest

from hostops.host.ssh import _paramiko


@pytest.fixture
def transport():
    left, right = socket.socketpair()
    t = paramiko.Transport(left)
    yield t
    t.close()
    left.close()
    right.close()


def test_every_private_name_is_still_there():
    assert _paramiko.missing_internals() == []


def test_the_hooks_install_on_a_real_transport(transport):
    before = dict(transport._handler_table)
    _paramiko.quieten(transport)
    _paramiko.record_exit_signals(transport)
    # Our handler for channel requests, on this transport only (not the class-wide table).
    assert (
        transport._channel_handler_table[paramiko.common.MSG_CHANNEL_REQUEST]
        is not paramiko.Transport._channel_handler_table[paramiko.common.MSG_CHANNEL_REQUEST]
    )
    for kind in (paramiko.common.MSG_REQUEST_SUCCESS, paramiko.common.MSG_REQUEST_FAILURE):
        assert transport._handler_table[kind] is not before[kind]
    assert _paramiko.last_reply(transport) == 0.0


def test_a_reply_to_a_global_request_is_noted(transport):
    _paramiko.record_exit_signals(transport)
    transport._handler_table[paramiko.common.MSG_REQUEST_FAILURE](paramiko.Message())
    assert _paramiko.last_reply(transport) > 0.0


def test_an_exit_signal_request_is_kept_on_the_channel(transport):
    _paramiko.record_exit_signals(transport)
    chan = paramiko.Channel(0)
    m = paramiko.Message()
    m.add_string("exit-signal")
    m.add_boolean(False)
    m.add_string("TERM")
    m.rewind()
    transport._channel_handler_table[paramiko.common.MSG_CHANNEL_REQUEST](chan, m)
    assert _paramiko.exit_signal(chan) == "TERM"
    assert chan.status_event.is_set()


def test_the_tunnel_socket_reports_closed_as_paramiko_asks():
    chan = paramiko.Channel(0)
    sock = _paramiko.TunnelSocket(chan)
    assert sock._closed is False
    chan.closed = True
    assert sock._closed is True
