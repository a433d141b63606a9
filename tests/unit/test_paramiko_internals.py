"""The canary for hostops/host/ssh/_paramiko.py: paramiko's private API that hostops relies on
is still there and still behaves as the hooks expect. A failure here means a paramiko release
changed it: adapt _paramiko.py (and the version bound in pyproject.toml) before anything else."""

from __future__ import annotations

import os
import socket
import threading
import time

import paramiko
import pytest

from hostops.host.ssh import _paramiko
from hostops.host.ssh.watchdog import alarm


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


def _certified_key(tmp_path, *args: str) -> bytes:
    """An ed25519 host certificate made by ssh-keygen, as the blob a host would send."""
    import base64
    import subprocess

    for name in ("ca", "host"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True
        )
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(tmp_path / "ca"), "-I", "h", "-h", *args,
         str(tmp_path / "host.pub")],
        check=True, capture_output=True,
    )  # fmt: skip
    return base64.b64decode((tmp_path / "host-cert.pub").read_text().split()[1])


def test_host_certificate_types_can_be_asked_for(transport):
    _paramiko.prefer_host_key_types(transport, list(_paramiko.HOST_CERTIFICATE_TYPES))
    offered = list(transport.get_security_options().key_types)
    assert offered[: len(_paramiko.HOST_CERTIFICATE_TYPES)] == list(
        _paramiko.HOST_CERTIFICATE_TYPES
    )


def test_paramiko_reads_a_host_certificate_as_its_handshake_does(tmp_path):
    """Transport._verify_key builds the host key with _key_info[type](Message(blob)):
    the key must come out with the certificate in public_blob, which hostops checks."""
    from hostops.host.ssh import certificates

    blob = _certified_key(tmp_path, "-n", "web1")
    key = paramiko.Transport._key_info["ssh-ed25519-cert-v01@openssh.com"](paramiko.Message(blob))
    assert key.public_blob.key_type == "ssh-ed25519-cert-v01@openssh.com"
    cert = certificates.parse(key.public_blob.key_blob)
    assert cert.principals == ("web1",) and cert.cert_type == certificates.HOST_CERTIFICATE
    assert certificates.check_host_certificate(cert, "web1") is None
    assert "not web2" in (certificates.check_host_certificate(cert, "web2") or "")
    assert cert.plain_blob == key.asbytes()


def test_an_agent_on_a_named_socket(tmp_path):
    import signal
    import subprocess

    sock = tmp_path / "agent.sock"
    out = subprocess.run(
        ["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True
    ).stdout
    pid = int(out.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        agent = _paramiko.agent_at(str(sock))
        assert agent.get_keys() == ()
        agent.close()
    finally:
        os.kill(pid, signal.SIGTERM)
    with pytest.raises(OSError):
        _paramiko.agent_at(str(tmp_path / "nothing-here"))


@pytest.mark.parametrize("completes", [False, True])
def test_the_handshake_is_timed_by_the_shared_alarm_thread(transport, completes):
    """No thread of its own per connection; the time-out still comes, and a handshake that
    completes in time is not timed out later."""
    _paramiko.time_handshake_with(transport, alarm)
    alarm(60, lambda: None).cancel()  # the process's alarm thread runs already
    threads = threading.active_count()
    transport.packetizer.start_handshake(0.05)
    assert threading.active_count() == threads
    if completes:
        transport.packetizer.complete_handshake()
    time.sleep(0.2)
    assert transport.packetizer.handshake_timed_out() is not completes


def test_a_channels_readable_event_follows_both_streams_and_its_close():
    """What SshCommand.pump waits on instead of the channel's pipe pair (fileno())."""
    chan = paramiko.Channel(0)
    ready = _paramiko.readable_event(chan)
    assert not ready.is_set()
    chan.in_stderr_buffer.feed(b"err")
    assert ready.is_set()
    assert chan.recv_stderr(10) == b"err"
    assert not ready.is_set()  # emptied: cleared
    chan.in_buffer.feed(b"out")
    assert ready.is_set() and chan.recv(10) == b"out"
    chan.in_buffer.close()  # EOF or the channel's close
    assert ready.is_set()


@pytest.mark.parametrize("answers", [True, False])
def test_a_public_key_login_is_waited_for_once(mocker, answers):
    """hostops's auth_publickey: paramiko's checks of the answer once it came; without
    one in time, paramiko's own timeout error, and its checks never reached."""
    t = mocker.Mock()
    t.auth_publickey.side_effect = lambda user, key, event: answers and event.set()
    started = time.monotonic()
    if answers:
        _paramiko.auth_publickey(t, "me", "KEY", 5.0)
        (event,) = t.auth_handler.wait_for_response.call_args.args
        assert event.is_set()
    else:
        with pytest.raises(paramiko.AuthenticationException, match="Authentication timeout"):
            _paramiko.auth_publickey(t, "me", "KEY", 0.2)
        t.auth_handler.wait_for_response.assert_not_called()
    assert t.auth_publickey.call_args.args[:2] == ("me", "KEY")
    assert time.monotonic() - started < 3.0
