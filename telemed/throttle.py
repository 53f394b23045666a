"""The failed-login brake: backoff per (account, source address) and per source address.

There is no lock per account: a lock that anyone can set by guessing wrong against a known
username lets a stranger shut a doctor out. Guesses against one account from one address slow
down after ``PAIR_FREE`` failures, all guesses from one address after ``ADDRESS_FREE``; each
further failure doubles the wait, up to ``MAX_WAIT`` seconds. The account's owner, from their
own address, is not slowed by someone else's failures elsewhere. Kept in the server's memory: a
restart forgets it, and a proxy in front must pass each client's own address.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

PAIR_FREE = 3
ADDRESS_FREE = 20
MAX_WAIT = 15 * 60
FORGET_AFTER = 3600  # failures older than this no longer count
MAX_TRACKED = 100_000


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    def __init__(self) -> None:
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def wait(self, username: str, address: str, now: float | None = None) -> int:
        """Seconds before another attempt of ``username`` from ``address`` is checked (0: now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return max(self._wait(("pair", f"{username}\n{address}"), PAIR_FREE, now),
                       self._wait(("address", address), ADDRESS_FREE, now))

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._failures) > MAX_TRACKED:
                self._forget(now)
            for key in (("pair", f"{username}\n{address}"), ("address", address)):
                entry = self._failures.get(key)
                if entry is None or now - entry.last > FORGET_AFTER:
                    self._failures[key] = _Failures(1, now)
                else:
                    entry.count, entry.last = entry.count + 1, now

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop(("pair", f"{username}\n{address}"), None)

    def clear_account(self, username: str) -> None:
        """An administrator lets the account's owner try again at once, from anywhere."""
        with self._lock:
            for key in [k for k in self._failures if k[0] == "pair" and k[1].startswith(f"{username}\n")]:
                del self._failures[key]

    def _wait(self, key: tuple[str, str], free: int, now: float) -> int:
        entry = self._failures.get(key)
        if entry is None or entry.count < free or now - entry.last > FORGET_AFTER:
            return 0
        ready = entry.last + min(2 ** (entry.count - free), MAX_WAIT)
        return max(0, int(ready - now + 0.999))

    def _forget(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if now - v.last > FORGET_AFTER]:
            del self._failures[key]
