"""Who a client is, from the socket; who has been asking, for `status`."""

from __future__ import annotations

import os
import pwd
import socket

import pytest

from quarterdeck.server import peer
from quarterdeck.server.peer import Clients, Peer, peer_of


def test_the_peer_is_what_the_kernel_reports() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        me = peer_of(right)
    assert (me.pid, me.uid, me.gid) == (os.getpid(), os.getuid(), os.getgid())
    assert me.name == pwd.getpwuid(os.getuid()).pw_name


def test_a_uid_without_a_name_is_named_by_its_number() -> None:
    unused = next(uid for uid in range(60_000, 65_000) if not _exists(uid))
    assert peer.name_of(unused) == f"uid-{unused}"


def _exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def test_clients_are_counted_while_asking_and_forgotten_a_minute_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(peer.time, "monotonic", lambda: now[0])
    clients = Clients()
    dana, ops = Peer(10, 1000, 1000, "dana"), Peer(11, 1001, 1001, "ops")
    clients.enter(dana)
    clients.enter(ops)
    clients.leave(ops)
    assert [(c["user"], c["requests"]) for c in clients.connected()] == [("dana", 1), ("ops", 0)]
    now[0] += peer.RECENT_S + 1
    assert [c["user"] for c in clients.connected()] == ["dana"]  # still asking
    clients.leave(dana)
    now[0] += peer.RECENT_S + 1
    clients.enter(ops)
    assert [c["user"] for c in clients.connected()] == ["ops"]
