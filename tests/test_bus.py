"""The bus between server processes on PostgreSQL: a message reaches the others, not its sender."""

from __future__ import annotations

import asyncio
import logging

import pytest

from telemed.bus import MAX_PAYLOAD, LocalBus, PostgresBus, open_bus


@pytest.fixture
def buses(pg_server):
    url = pg_server.create_database()
    pair = (PostgresBus(url), PostgresBus(url))
    yield pair
    for bus in pair:
        bus.close()
    pg_server.drop_database(url)


async def test_a_message_reaches_the_other_process_not_its_sender(buses, caplog):
    sender, other = buses
    got: dict[str, asyncio.Queue] = {"sender": asyncio.Queue(), "other": asyncio.Queue()}
    sender.on("t", got["sender"].put_nowait)
    other.on("t", got["other"].put_nowait)
    loop = asyncio.get_running_loop()
    for bus in buses:
        bus.start(loop)
    await asyncio.to_thread(lambda: all(bus.listening.wait(30) for bus in buses))
    with caplog.at_level(logging.ERROR, logger="telemed.bus"):
        sender.send("t", {"big": "x" * MAX_PAYLOAD})  # over NOTIFY's limit: logged, not sent
    assert "over NOTIFY's limit" in caplog.text
    sender.send("t", {"n": 1, "text": "血钾 6.9"})
    assert await asyncio.wait_for(got["other"].get(), 20) == {"n": 1, "text": "血钾 6.9"}
    other.send("t", {"n": 2})
    assert await asyncio.wait_for(got["sender"].get(), 20) == {"n": 2}
    assert got["sender"].empty() and got["other"].empty()  # neither heard itself nor the big one


def test_sqlite_has_no_one_to_tell():
    assert type(open_bus("sqlite:///x.db")) is LocalBus
