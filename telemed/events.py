"""Push to the browsers: critical lab alerts, consult rings, batch progress.

Each connected WebSocket subscribes with its principal; a publisher names the audience (an
organisation, roles, users), so the hub itself holds no policy. With a bus (several processes on
PostgreSQL) each message also goes to the other processes, for the browsers connected there.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field

from telemed.bus import LocalBus
from telemed.i18n import LANGUAGES, translate
from telemed.security import Principal

TOPIC = "events"


@dataclass(frozen=True)
class Audience:
    """Who a message is for: plain data, so that it can travel to another process."""

    org_id: str | None = None
    roles: tuple[str, ...] = ()
    user_ids: tuple[int, ...] | None = None
    # Left out although they match: officers posted to another block than the task's.
    except_user_ids: tuple[int, ...] = ()

    def __call__(self, p: Principal) -> bool:
        return ((self.org_id is None or p.org_id == self.org_id) and (not self.roles or p.role in self.roles)
                and (self.user_ids is None or p.user_id in self.user_ids) and p.user_id not in self.except_user_ids)


@dataclass(eq=False)
class Subscription:
    principal: Principal
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=256))


class Hub:
    def __init__(self, bus: LocalBus | None = None) -> None:
        self._subs: set[Subscription] = set()
        self.bus = bus or LocalBus()
        self.bus.on(TOPIC, self._arrived)

    def subscribe(self, principal: Principal) -> Subscription:
        sub = Subscription(principal)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, message: dict, audience: Audience) -> int:
        """Queue ``message`` for every subscriber in ``audience`` here, and send it to the other
        processes; returns how many here. Call on the loop."""
        self.bus.send(TOPIC, {"message": message, "audience": asdict(audience)})
        return self._deliver(message, audience)

    def _arrived(self, payload: dict) -> None:
        audience = payload["audience"]
        ids = audience["user_ids"]
        self._deliver(payload["message"], Audience(audience["org_id"], tuple(audience["roles"]),
                                                   None if ids is None else tuple(ids),
                                                   tuple(audience.get("except_user_ids", ()))))

    def _deliver(self, message: dict, audience: Audience) -> int:
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
    return Audience(org_id=org_id, roles=tuple(str(r) for r in roles))


def user(user_id: int) -> Audience:
    return users([user_id])


def users(user_ids) -> Audience:
    return Audience(user_ids=tuple(sorted(user_ids)))


def notice(kind: str, key: str, *, link: str, severity: str = "", ring: bool = False, **values) -> dict:
    """A notification in every language (the hub does not know each browser's): the page shows
    the one it speaks, dismissible, linking to ``link``. ``ring``: it keeps ringing until dismissed
    or followed. A value may be a function of the language, for words that need translating."""
    toast = {lang: translate(lang, key, **{k: v(lang) if callable(v) else v for k, v in values.items()})
             for lang in LANGUAGES}
    return {"type": kind, "toast": toast, "link": link, "severity": severity, "ring": ring}
