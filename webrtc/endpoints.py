"""Where a facility's clinic endpoints are: the on-site doctor joins a consult only from there."""

from __future__ import annotations

import ipaddress

from telemed.config import Settings


def facility_networks(settings: Settings, org_id: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found = []
    for pair in settings.facility_networks:
        org, _, cidr = pair.partition("=")
        if org == org_id:
            found.append(ipaddress.ip_network(cidr, strict=False))
    return found


def is_facility_endpoint(settings: Settings, org_id: str, remote: str | None) -> bool:
    """With no networks configured at all, only loopback counts (a development machine)."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if not settings.facility_networks:
        return address.is_loopback
    return any(address in network for network in facility_networks(settings, org_id))
