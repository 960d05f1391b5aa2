"""The capture filter (BPF) of an event: its source and targets, built from address objects only,
so that no event text can reach the filter."""

from __future__ import annotations

import ipaddress
from typing import Iterable

from streams.events import AdsEvent, IPAddress

# A BPF program has at most 4096 instructions; `host` costs up to ~20 of them for IPv6.
MAX_FILTER_HOSTS = 100


def canonical_address(address: IPAddress) -> IPAddress:
    """The address without an IPv6 scope ("fe80::1%eth0"): a scope is free text, and BPF has no
    use for it."""
    if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        raise TypeError(f"expected an IP address object, found {type(address).__name__}")
    return ipaddress.ip_address(address.packed)


def event_hosts(event: AdsEvent) -> tuple[list[IPAddress], int]:
    """The event's source and targets, without duplicates, at most MAX_FILTER_HOSTS of them;
    and how many were left out. Parsed from the event's text (an event read back from an action
    topic carries its addresses as text only): what is not an address is left out too."""
    unique: dict[IPAddress, None] = {}
    rejected = 0
    for text in (event.source, *event.targets):
        try:
            unique[canonical_address(ipaddress.ip_address(text))] = None
        except ValueError:
            rejected += 1
    hosts = list(unique)
    return hosts[:MAX_FILTER_HOSTS], rejected + max(0, len(hosts) - MAX_FILTER_HOSTS)


def host_filter(addresses: Iterable[IPAddress]) -> str:
    """``host 10.0.0.1 or host fd00::1``: packets from or to any of the addresses."""
    unique = list(dict.fromkeys(canonical_address(address) for address in addresses))
    if not unique:
        raise ValueError("expected at least one address to filter on, found none")
    return " or ".join(f"host {address.compressed}" for address in unique)
