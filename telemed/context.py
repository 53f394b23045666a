"""What every handler needs, built once per process and kept on the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from telemed.audit import AuditLog, Signer, install
from telemed.audit_process import AuditProcess
from telemed.bus import open_bus
from telemed.config import Settings
from telemed.db import Database
from telemed.events import Hub
from telemed.security import TokenCache
from telemed.throttle import LoginThrottle


@dataclass
class Context:
    settings: Settings
    db: Database
    audit: AuditLog | AuditProcess
    hub: Hub
    tokens: TokenCache
    throttle: LoginThrottle

    @classmethod
    def open(cls, settings: Settings) -> "Context":
        db = Database(settings.database_url, threads=settings.db_threads)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        signer = Signer.from_settings(settings)
        install(signer)  # for writers in this process that are given none (an import, say)
        audit = AuditProcess(db.url, signer) if settings.audit_process else AuditLog(db.engine, signer)
        bus = open_bus(db.url)  # started with the server's event loop (telemed.app)
        return cls(settings=settings, db=db, audit=audit, hub=Hub(bus),
                   tokens=TokenCache(bus, ttl=settings.token_cache_seconds), throttle=LoginThrottle(db.engine))

    def close(self) -> None:
        self.hub.bus.close()
        self.audit.close()
        self.db.close()


CONTEXT = web.AppKey("context", Context)


def context_of(request_or_app: web.Request | web.Application) -> Context:
    app = request_or_app.app if isinstance(request_or_app, web.Request) else request_or_app
    return app[CONTEXT]
