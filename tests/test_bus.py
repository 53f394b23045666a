"""The bus between server processes on PostgreSQL: a message reaches the others, not its sender;
one sent while a listener was reconnecting reaches it once it is back, and nothing twice."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from telemed import bus as bus_module
from telemed.bus import LocalBus, PostgresBus, Seen, open_bus
from telemed.schema import upgrade


@pytest.fixture
def buses(pg_server):
    url = pg_server.create_database()
    upgrade(url)
    pair = (PostgresBus(url), PostgresBus(url))
    yield pair
    for bus in pair:
        bus.close()
    pg_server.drop_database(url)


async def _started(buses) -> dict[str, asyncio.Queue]:
    got = {"sender": asyncio.Queue(), "other": asyncio.Queue()}
    buses[0].on("t", got["sender"].put_nowait)
    buses[1].on("t", got["other"].put_nowait)
    for bus in buses:
        bus.start(asyncio.get_running_loop())
    await asyncio.to_thread(lambda: all(bus.listening.wait(30) for bus in buses))
    return got


async def test_a_message_reaches_the_other_process_not_its_sender(buses):
    sender, other = buses
    got = await _started(buses)
    sender.send("t", {"big": "x" * 20000})  # over NOTIFY's 8,000 bytes: the row carries it
    sender.send("t", {"n": 1, "text": "血钾 6.9"})
    assert await asyncio.wait_for(got["other"].get(), 20) == {"big": "x" * 20000}
    assert await asyncio.wait_for(got["other"].get(), 20) == {"n": 1, "text": "血钾 6.9"}
    other.send("t", {"n": 2})
    assert await asyncio.wait_for(got["sender"].get(), 20) == {"n": 2}
    await asyncio.sleep(1)
    assert got["sender"].empty() and got["other"].empty()  # neither heard itself, nor anything twice


async def test_what_was_sent_while_a_listener_reconnected_reaches_it_once(buses, monkeypatch):
    monkeypatch.setattr(bus_module, "RECONNECT_SECONDS", 3.0)  # a window wide enough to send into
    sender, other = buses
    got = await _started(buses)
    sender.send("t", {"n": 0})
    assert await asyncio.wait_for(got["other"].get(), 20) == {"n": 0}
    with psycopg.connect(sender.dsn, autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                              (other.listener_name,)).fetchall()
        assert ended == [(True,)]
        await asyncio.to_thread(lambda: _wait(lambda: not other.listening.is_set()))
        for n in range(1, 6):  # while it is away
            sender.send("t", {"n": n})
        await asyncio.to_thread(lambda: _wait(lambda: _sent(admin) == 6))
        assert not other.listening.is_set(), "the listener came back before the messages were sent"
    for n in range(6, 9):
        sender.send("t", {"n": n})
    heard = [(await asyncio.wait_for(got["other"].get(), 30))["n"] for _ in range(8)]
    assert heard == list(range(1, 9))
    await asyncio.sleep(1)
    assert got["other"].empty() and got["sender"].empty()


def _sent(admin: psycopg.Connection) -> int:
    return admin.execute("SELECT count(*) FROM bus_event").fetchone()[0]


def _wait(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_numbers_committed_out_of_order_are_each_taken_once():
    seen = Seen(10)
    assert [seen.take(n) for n in (12, 13, 12, 10)] == [True, True, False, False]
    seen.settle(now=0.0)
    assert (seen.floor, seen.above) == (10, {12, 13})  # 11 may still commit
    assert seen.take(11) and not seen.take(11)
    seen.settle(now=1.0)
    assert (seen.floor, seen.above, seen.gap_since) == (13, set(), None)


def test_a_gap_that_never_fills_is_given_up_after_a_while():
    seen = Seen(0)
    seen.take(2)
    seen.settle(now=100.0)
    seen.settle(now=100.0 + bus_module.GAP_SECONDS)
    assert seen.floor == 0  # still waiting for 1
    seen.settle(now=101.0 + bus_module.GAP_SECONDS)
    assert (seen.floor, seen.above) == (2, set())  # 1 was rolled back: never sent
    assert not seen.take(1)


def test_sqlite_has_no_one_to_tell():
    assert type(open_bus("sqlite:///x.db")) is LocalBus
