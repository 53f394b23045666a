"""Time-limited TURN credentials, coturn's ``use-auth-secret`` (the TURN REST API scheme).

The username is ``<expiry>:<user>`` (expiry in seconds since the epoch) and the password is
base64(HMAC-SHA1(secret, username)): coturn checks both with the secret it shares with the app
and refuses the pair once the expiry has passed, so a credential copied out of a browser is
good for ``turn_ttl_seconds`` and names whose it was.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import replace

from telemed.config import Settings


def credential(secret: str, username: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def for_user(settings: Settings, user: str, now: float | None = None) -> Settings:
    """``settings`` with a TURN username and password of ``user``'s own, when a TURN secret is set."""
    if not settings.turn_secret:
        return settings
    username = f"{int(time.time() if now is None else now) + settings.turn_ttl_seconds}:{user}"
    return replace(settings, turn_username=username, turn_credential=credential(settings.turn_secret, username))
