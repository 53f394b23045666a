"""SMART on FHIR system scopes (``system/Observation.read``, ``system/*.rs``): what a client's
token grants, on top of the access policy. v1 suffixes map to v2 letters as SMART 2.x says:
read -> rs, write -> cud, * -> cruds."""

from __future__ import annotations

import re
from dataclasses import dataclass

LETTERS = "cruds"
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]{1,63})\.(read|write|\*|c?r?u?d?s?)$")


class ScopeError(ValueError):
    """A scope this server does not understand: refused as a whole, never half granted."""


@dataclass(frozen=True)
class Scopes:
    granted: frozenset[tuple[str, str]]  # (resource type or "*", one of "cruds")

    def permits(self, rtype: str, letter: str) -> bool:
        return (rtype, letter) in self.granted or ("*", letter) in self.granted

    def covers(self, other: Scopes) -> bool:
        return all(self.permits(rtype, letter) for rtype, letter in other.granted)

    def types_with(self, letter: str) -> frozenset[str] | None:
        """The types ``letter`` is granted on; None: every type."""
        if ("*", letter) in self.granted:
            return None
        return frozenset(rtype for rtype, granted in self.granted if granted == letter)


def parse_scopes(text: str) -> tuple[Scopes, tuple[str, ...]]:
    """The scopes in a space-separated list, and the list as understood (order kept)."""
    words = tuple(dict.fromkeys(text.split()))
    granted: set[tuple[str, str]] = set()
    for word in words:
        match = _SCOPE.match(word)
        if match is None or not match.group(2):
            raise ScopeError(f"scope {word!r} is not a system scope this server grants "
                             "(system/Type.read, system/Type.rs, system/*.read, ...)")
        rtype, action = match.groups()
        granted.update((rtype, letter) for letter in V1.get(action, action))
    if not granted:
        raise ScopeError("no scope was asked for")
    return Scopes(frozenset(granted)), words
