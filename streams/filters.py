"""Named IP filters: sets of IPv4/IPv6 networks, ranges and addresses, and relational filters
(union, difference, inversion) built from other filters.

Every filter is compiled once, at configuration load, into sorted disjoint integer ranges per
address family, so a membership test is one binary search whatever the filter's shape.
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_FAMILY_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}

Ranges = tuple[tuple[int, int], ...]


def _merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def _complement(ranges: Ranges, family_max: int) -> Ranges:
    result = []
    next_start = 0
    for start, end in ranges:
        if start > next_start:
            result.append((next_start, start - 1))
        next_start = end + 1
    if next_start <= family_max:
        result.append((next_start, family_max))
    return tuple(result)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    result = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start <= end:
            result.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(result)


@dataclass(frozen=True)
class IpSet:
    """An immutable set of addresses, one range list per family."""

    v4: Ranges = ()
    v6: Ranges = ()

    def _starts(self, ranges: Ranges) -> list[int]:
        return [start for start, _ in ranges]

    def __post_init__(self) -> None:
        # Cached start lists make contains() a single bisect.
        object.__setattr__(self, "_v4_starts", self._starts(self.v4))
        object.__setattr__(self, "_v6_starts", self._starts(self.v6))

    def contains(self, address: IPAddress) -> bool:
        if address.version == 4:
            ranges, starts = self.v4, self._v4_starts  # type: ignore[attr-defined]
        else:
            ranges, starts = self.v6, self._v6_starts  # type: ignore[attr-defined]
        value = int(address)
        index = bisect.bisect_right(starts, value) - 1
        return index >= 0 and ranges[index][1] >= value

    def union(self, other: "IpSet") -> "IpSet":
        return IpSet(_merge(self.v4 + other.v4), _merge(self.v6 + other.v6))

    def difference(self, other: "IpSet") -> "IpSet":
        return IpSet(
            _intersect(self.v4, _complement(other.v4, _FAMILY_MAX[4])),
            _intersect(self.v6, _complement(other.v6, _FAMILY_MAX[6])),
        )

    def inverse(self) -> "IpSet":
        return IpSet(_complement(self.v4, _FAMILY_MAX[4]), _complement(self.v6, _FAMILY_MAX[6]))


def parse_entry(text: str) -> tuple[int, int, int]:
    """One entry -> (family, first, last). Accepts ``a.b.c.d``, ``net/len`` and ``first-last``."""
    text = text.strip()
    if "-" in text:
        first_text, _, last_text = text.partition("-")
        first = ipaddress.ip_address(first_text.strip())
        last = ipaddress.ip_address(last_text.strip())
        if first.version != last.version:
            raise ValueError(f"range {text!r} mixes IPv4 and IPv6")
        if int(first) > int(last):
            raise ValueError(f"range {text!r} ends before it starts")
        return first.version, int(first), int(last)
    if "/" in text:
        network = ipaddress.ip_network(text, strict=False)
        return network.version, int(network.network_address), int(network.broadcast_address)
    address = ipaddress.ip_address(text)
    return address.version, int(address), int(address)


def ipset_from_entries(entries: Sequence[str]) -> IpSet:
    v4, v6 = [], []
    for entry in entries:
        family, first, last = parse_entry(entry)
        (v4 if family == 4 else v6).append((first, last))
    return IpSet(_merge(v4), _merge(v6))


class FilterError(ValueError):
    """A filter definition that cannot be compiled; ``name`` says which one."""

    def __init__(self, name: str, field: str, message: str):
        super().__init__(message)
        self.name = name
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FilterDefinition:
    """Exactly one of the four shapes is set (the configuration model checks this)."""

    networks: tuple[str, ...] | None = None
    union: tuple[str, ...] | None = None
    difference: tuple[str, ...] | None = None
    inverse_of: str | None = None

    def references(self) -> tuple[str, ...]:
        if self.union is not None:
            return self.union
        if self.difference is not None:
            return self.difference
        if self.inverse_of is not None:
            return (self.inverse_of,)
        return ()

    def reference_field(self) -> str:
        if self.union is not None:
            return "union"
        if self.difference is not None:
            return "difference"
        return "not"


def compile_filters(definitions: Mapping[str, FilterDefinition]) -> dict[str, IpSet]:
    """Compile every filter; unknown references and cycles raise FilterError naming the filter."""
    compiled: dict[str, IpSet] = {}
    in_progress: list[str] = []

    def build(name: str) -> IpSet:
        if name in compiled:
            return compiled[name]
        if name in in_progress:
            cycle = " -> ".join(in_progress[in_progress.index(name):] + [name])
            raise FilterError(in_progress[-1], definitions[in_progress[-1]].reference_field(),
                              f"expected filters without cycles, found the cycle {cycle}")
        definition = definitions[name]
        for reference in definition.references():
            if reference not in definitions:
                raise FilterError(name, definition.reference_field(),
                                  f"expected the name of a defined filter, found {reference!r}")
        in_progress.append(name)
        parts = [build(reference) for reference in definition.references()]
        in_progress.pop()
        if definition.networks is not None:
            result = ipset_from_entries(definition.networks)
        elif definition.union is not None:
            result = IpSet()
            for part in parts:
                result = result.union(part)
        elif definition.difference is not None:
            result = parts[0]
            for part in parts[1:]:
                result = result.difference(part)
        else:
            result = parts[0].inverse()
        compiled[name] = result
        return result

    for filter_name in definitions:
        build(filter_name)
    return compiled
