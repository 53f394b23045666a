"""The failed-login brake: backoff per (account, source address) and per source address.

There is no lock per account: a lock that anyone can set by guessing wrong against a known
username lets a stranger shut a doctor out. Guesses against one account from one address slow
down after ``PAIR_FREE`` failures, all guesses from one address after ``ADDRESS_FREE``; each
further failure doubles the wait, up to ``MAX_WAIT`` seconds. The account's owner, from their
own address, is not slowed by someone else's failures elsewhere. The failures are in the
database (``login_failure``): a restart forgets none, and every process of a cluster brakes
alike. A proxy in front must pass each client's own address.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from telemed.models import LoginFailure

PAIR_FREE = 3
ADDRESS_FREE = 20
MAX_WAIT = 15 * 60
FORGET_AFTER = 3600  # failures older than this no longer count
PAIR, ADDRESS = "pair", "address"
table = LoginFailure.__table__


class LoginThrottle:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        # Wall-clock seconds: they mean the same in the next run and in another process. Tests
        # stop the clock, so that a slow machine cannot outwait a brake.
        self.clock = clock
        self.insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert

    def wait(self, username: str, address: str, now: float | None = None) -> int:
        """Seconds before another attempt of ``username`` from ``address`` is checked (0: now)."""
        now = self.clock() if now is None else now
        with self.engine.connect() as conn:
            rows = conn.execute(select(table.c.kind, table.c.count, table.c.last).where(
                ((table.c.kind == PAIR) & (table.c.username == username) & (table.c.address == address))
                | ((table.c.kind == ADDRESS) & (table.c.username == "") & (table.c.address == address)))).all()
        return max((_wait(count, PAIR_FREE if kind == PAIR else ADDRESS_FREE, last, now)
                    for kind, count, last in rows), default=0)

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        """Count a failure, in a transaction of its own: the login's own is rolled back."""
        now = self.clock() if now is None else now
        stale = now - table.c.last > FORGET_AFTER
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.last < now - FORGET_AFTER))
            for kind, who in ((PAIR, username), (ADDRESS, "")):
                statement = self.insert(table).values(kind=kind, username=who, address=address, count=1, last=now)
                conn.execute(statement.on_conflict_do_update(
                    index_elements=[table.c.kind, table.c.username, table.c.address],
                    set_={"count": case((stale, 1), else_=table.c.count + 1), "last": now}))

    def succeeded(self, username: str, address: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.kind == PAIR, table.c.username == username,
                                             table.c.address == address))

    def clear_account(self, username: str) -> None:
        """An administrator lets the account's owner try again at once, from anywhere."""
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.kind == PAIR, table.c.username == username))


def _wait(count: int, free: int, last: float, now: float) -> int:
    if count < free or now - last > FORGET_AFTER:
        return 0
    ready = last + min(2 ** (count - free), MAX_WAIT)
    return max(0, int(ready - now + 0.999))
