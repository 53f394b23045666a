"""``telemed labs listen``: an MLLP (0x0B ... 0x1C 0x0D) server for analyzer HL7 messages.

Each message is processed in a database thread and answered on the same connection; analyzers
such as the Mindray BC series wait up to 10 s for each ACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from hl7.mllp import InvalidBlockError, start_hl7_server

from labs.hl7 import process
from telemed.config import Settings
from telemed.db import Database

log = logging.getLogger("telemed.labs.mllp")
MAX_MESSAGE = 32 * 1024 * 1024  # histograms ride inside the message as Base64 images


async def serve(db: Database, settings: Settings, facility_id: str, host: str, port: int) -> asyncio.Server:
    # SQLite has one writer: concurrent senders queue here instead of spinning on its busy lock.
    writer_lock = asyncio.Lock() if db.is_sqlite else contextlib.nullcontext()
    handler = partial(_client, db, settings, facility_id, writer_lock)
    return await start_hl7_server(handler, host, port, limit=MAX_MESSAGE)


def decode(block: bytes) -> str:
    """UTF-8 (MSH-18 UNICODE, as Mindray sends), else GB 18030, which Chinese LIS and older analyzers use."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("gb18030", errors="replace")


async def _client(db: Database, settings: Settings, facility_id: str, writer_lock, reader, writer) -> None:
    peer = writer.get_extra_info("peername")
    try:
        while True:
            try:
                block = await reader.readblock()
            except asyncio.IncompleteReadError:
                return  # the sender closed the connection
            except (InvalidBlockError, ValueError) as exc:
                log.warning("dropping connection from %s: bad MLLP framing: %s", peer, exc)
                return
            async with writer_lock:
                answer = await db.run(process, decode(block), facility_id, settings.tz)
            log.info("hl7 from %s: %s %s", peer, answer.code, answer.text)
            writer.writeblock(answer.message.encode("utf-8"))
            await writer.drain()
    finally:
        writer.close()
