"""Which run a connection's first answer is told to (hostops.host.ssh.distance): the
run that opened it; never an earlier run's, once a warm run's worker parked the
connection and a later run took it over (a reconnect there, after it died while
parked, must not write on the earlier run's pipe)."""

from __future__ import annotations

from collections.abc import Callable

from pytest_mock import MockerFixture

from hostops.credentials import Secrets
from hostops.host.client import HostClient
from hostops.host.ssh import connection
from hostops.host.ssh.context import SshContext
from hostops.models import Host, RunOptions


def test_a_parked_connection_forgets_the_run_that_opened_it(mocker: MockerFixture) -> None:
    given: list[Callable[[float], None] | None] = []

    class Opened:
        def __init__(self, host: Host, ctx: SshContext, warn: object, heard: object = None) -> None:
            given.append(heard)  # type: ignore[arg-type]

        def is_active(self) -> bool:
            return True

        def adopt(self, ctx: SshContext) -> bool:
            return True

        def detach(self, ctx: SshContext) -> None:
            pass

        def close(self) -> None:
            pass

    mocker.patch.object(connection, "SshConnection", Opened)
    first_run: list[float] = []
    client = HostClient(Host("h", "127.0.0.1"), heard=first_run.append)
    client.connect()
    assert given == [first_run.append]
    parked = SshContext(RunOptions(), lambda message: None, Secrets())
    client.detach(parked)
    assert client.adopt(parked)  # the next run takes it over...
    client._stale(None)  # ...and its connection died while parked: a new one
    assert given[1:] == [None]
