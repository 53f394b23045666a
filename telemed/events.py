"""In-process push to the browsers: critical lab alerts, consult rings, batch progress.

Each connected WebSocket subscribes with its principal; a publisher names the audience
with a predicate over principals, so the hub itself holds no policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from telemed.i18n import LANGUAGES, translate
from telemed.security import Principal

Audience = Callable[[Principal], bool]


@dataclass(eq=False)
class Subscription:
    principal: Principal
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=256))


class Hub:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(self, principal: Principal) -> Subscription:
        sub = Subscription(principal)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, message: dict, audience: Audience) -> int:
        """Queue ``message`` for every subscriber in ``audience``; returns how many. Call on the loop."""
        delivered = 0
        for sub in list(self._subs):
            if audience(sub.principal):
                try:
                    sub.queue.put_nowait(message)
                    delivered += 1
                except asyncio.QueueFull:
                    pass  # a stalled browser must not hold up the others; it refetches on reconnect
        return delivered

    def publish_threadsafe(self, loop: asyncio.AbstractEventLoop, message: dict, audience: Audience) -> None:
        loop.call_soon_threadsafe(self.publish, message, audience)


def staff_of(org_id: str, *roles: str) -> Audience:
    return lambda p: p.org_id == org_id and (not roles or p.role in roles)


def user(user_id: int) -> Audience:
    return lambda p: p.user_id == user_id


def notice(kind: str, key: str, *, link: str, severity: str = "", ring: bool = False, **values) -> dict:
    """A notification in every language (the hub does not know each browser's): the page shows
    the one it speaks, dismissible, linking to ``link``. ``ring``: it keeps ringing until dismissed
    or followed. A value may be a function of the language, for words that need translating."""
    toast = {lang: translate(lang, key, **{k: v(lang) if callable(v) else v for k, v in values.items()})
             for lang in LANGUAGES}
    return {"type": kind, "toast": toast, "link": link, "severity": severity, "ring": ring}
