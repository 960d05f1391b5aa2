"""Realistic ADS and IDS events for the demo, the tests and benchmarks.

Details come from the event detail catalogue (streams/data/event-detail-catalogue.txt), so every
detection type and every detail text really emitted by ADS can show up. Besides valid triggers the
stream holds what a real feed also delivers: exact re-sends of a trigger, updates of an active
event, IDS events, and malformed lines. ``expected_counts`` says how many of each a call gives, so
a consumer can check that every generated event was accounted for.

Everything is drawn from one ``random.Random(seed)``: the same seed and ``now`` give the same bytes.
"""

from __future__ import annotations

import enum
import ipaddress
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import orjson

from .event_types import EVENT_TYPE_NAMES
from .events import (CONTROL_CHARACTERS, INVALID_JSON, INVALID_VALUE, MISSING_FIELD, UNDECODABLE,
                     UNKNOWN_PRIORITY, WRONG_TYPE)
from .priorities import PRIORITY_WORDS

CATALOGUE_PATH = Path(__file__).parent / "data" / "event-detail-catalogue.txt"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The catalogue writes every MAC address as this placeholder; generated events put their own in.
CATALOGUE_MAC = "0C:70:00:00:00:00"
MAX_TARGETS = 12


class Kind(str, enum.Enum):
    TRIGGER = "trigger"  # a valid ADS event trigger with a new ID
    DUPLICATE = "duplicate"  # the exact bytes of an earlier trigger, sent again
    UPDATE = "update"  # "update": true, the ID and identity of an earlier trigger
    IDS = "ids"  # a valid IDS event with a new ID
    MALFORMED = "malformed"  # a line the worker must dead-letter


@dataclass(frozen=True)
class GeneratedEvent:
    kind: Kind
    line: bytes
    # For MALFORMED lines: the InvalidEvent reason the parser must give.
    reason: str = ""


@dataclass(frozen=True)
class ExpectedCounts:
    triggers: int
    duplicates: int
    updates: int
    ids: int
    malformed: int

    @property
    def total(self) -> int:
        return self.triggers + self.duplicates + self.updates + self.ids + self.malformed


@dataclass(frozen=True)
class CatalogueEntry:
    type: str
    human: tuple[str, ...]
    machine: tuple[str, ...]


@lru_cache(maxsize=1)
def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, CatalogueEntry]:
    """``## TYPE n variants`` headings, each followed by ``H:`` and ``M:`` detail lines."""
    details: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = details.setdefault(line.split()[1], {"H": [], "M": []})
        elif current is not None and line.strip()[:2] in ("H:", "M:"):
            text = line.strip()
            current[text[0]].append(text[2:].strip())
    return {name: CatalogueEntry(name, tuple(d["H"]), tuple(d["M"])) for name, d in details.items()}


def expected_counts(count: int, *, duplicate_ratio: float = 0.02, malformed_ratio: float = 0.01,
                    ids_ratio: float = 0.02, update_ratio: float = 0.02) -> ExpectedCounts:
    """How many events of each kind ``generate_events`` gives for these arguments."""
    ratios = {Kind.DUPLICATE: duplicate_ratio, Kind.UPDATE: update_ratio, Kind.IDS: ids_ratio,
              Kind.MALFORMED: malformed_ratio}
    if count < 0 or any(not 0 <= ratio <= 1 for ratio in ratios.values()):
        raise ValueError(f"expected a count of 0 or more and ratios between 0 and 1, found {count} and "
                         f"{', '.join(str(ratio) for ratio in ratios.values())}")
    special = {kind: round(count * ratio) for kind, ratio in ratios.items()}
    triggers = count - sum(special.values())
    # Duplicates and updates repeat an earlier trigger, so at least one must come first.
    if triggers < 0 or (triggers == 0 and special[Kind.DUPLICATE] + special[Kind.UPDATE] > 0):
        raise ValueError(f"ratios leave no room for triggers among {count} events")
    return ExpectedCounts(triggers=triggers, duplicates=special[Kind.DUPLICATE], updates=special[Kind.UPDATE],
                          ids=special[Kind.IDS], malformed=special[Kind.MALFORMED])


def count_kinds(events: Iterable[GeneratedEvent]) -> ExpectedCounts:
    """The kind counts of generated events (for example a slice of them)."""
    events = list(events)
    return ExpectedCounts(*(sum(1 for e in events if e.kind == kind)
                            for kind in (Kind.TRIGGER, Kind.DUPLICATE, Kind.UPDATE, Kind.IDS, Kind.MALFORMED)))


def generate_events(count: int, *, seed: int = 0, duplicate_ratio: float = 0.02, malformed_ratio: float = 0.01,
                    ids_ratio: float = 0.02, update_ratio: float = 0.02, start_id: int = 1,
                    now: datetime | None = None) -> list[bytes]:
    """``count`` JSON lines (no newline); see ``generate`` for ``now``."""
    return [event.line for event in generate(
        count, seed=seed, duplicate_ratio=duplicate_ratio, malformed_ratio=malformed_ratio,
        ids_ratio=ids_ratio, update_ratio=update_ratio, start_id=start_id, now=now)]


def generate(count: int, *, seed: int = 0, duplicate_ratio: float = 0.02, malformed_ratio: float = 0.01,
             ids_ratio: float = 0.02, update_ratio: float = 0.02, start_id: int = 1,
             now: datetime | None = None) -> list[GeneratedEvent]:
    """``count`` events with their kinds. Detection times end at ``now`` (default: the current UTC
    time, so pass ``now`` for byte-identical output across calls). New IDs count up from
    ``start_id``; ADS and IDS events share that sequence, so no two new events share an ID."""
    counts = expected_counts(count, duplicate_ratio=duplicate_ratio, malformed_ratio=malformed_ratio,
                             ids_ratio=ids_ratio, update_ratio=update_ratio)
    rng = random.Random(seed)
    builder = _Builder(rng, start_id, (now or datetime.now(timezone.utc)).replace(microsecond=0), count)
    return [builder.build(kind, index) for index, kind in enumerate(_plan(counts, rng))]


def _plan(counts: ExpectedCounts, rng: random.Random) -> list[Kind]:
    kinds = ([Kind.TRIGGER] * counts.triggers + [Kind.DUPLICATE] * counts.duplicates
             + [Kind.UPDATE] * counts.updates + [Kind.IDS] * counts.ids + [Kind.MALFORMED] * counts.malformed)
    rng.shuffle(kinds)
    if Kind.TRIGGER in kinds:
        first = kinds.index(Kind.TRIGGER)
        kinds[0], kinds[first] = kinds[first], kinds[0]
    return kinds


# Typical service per type, for the ones tied to a protocol; others get random or empty ports.
_SERVICES = {
    "SSHDICT": ("22", "TCP"), "RDPDICT": ("3389", "TCP"), "TELNET": ("23", "TCP"),
    "HTTPDICT": ("80, 443", "TCP"), "SMTPANOMALY": ("25", "TCP"), "DHCPANOM": ("67, 68", "UDP"),
    "DNSANOMALY": ("53", "UDP"), "DNSQUERY": ("53", "UDP"), "SIPFLOOD": ("5060", "UDP"),
    "SIPPROXY": ("5060", "UDP"), "SIPSCAN": ("5060", "UDP"), "ICMPANOM": ("", "ICMP"),
    "DOHDET": ("443", "TCP"), "TEAMVIEWER": ("5938", "TCP"), "BITTORRENT": ("6881", "TCP"),
}
_MITRE = {
    "SCANS": ("TA0007", "Discovery", "T1046", "Network Service Discovery"),
    "SSHDICT": ("TA0006", "Credential Access", "T1110", "Brute Force"),
    "RDPDICT": ("TA0006", "Credential Access", "T1110", "Brute Force"),
    "DICTATTACK": ("TA0006", "Credential Access", "T1110", "Brute Force"),
    "HTTPDICT": ("TA0006", "Credential Access", "T1110", "Brute Force"),
    "DOS": ("TA0040", "Impact", "T1498", "Network Denial of Service"),
    "REFLECTDOS": ("TA0040", "Impact", "T1498", "Network Denial of Service"),
    "HIGHTRANSF": ("TA0008", "Lateral Movement", "T1570", "Lateral Tool Transfer"),
    "UPLOAD": ("TA0010", "Exfiltration", "T1048", "Exfiltration Over Alternative Protocol"),
    "TOR": ("TA0011", "Command and Control", "T1090", "Proxy"),
}
_PRIORITY_WORDS = (*PRIORITY_WORDS, "INFORMATIONAL")  # both spellings ADS uses
_DATA_FEEDS = ("Default", "Default", "core-router", "dmz-probe")
_METHOD_INSTANCES = ("Default", "Default", "Servers", "Guests")
_INTERNAL_V4 = ("10.10.0.0/16", "10.99.0.0/16", "192.168.112.0/24", "172.16.4.0/22")
_EXTERNAL_V4 = ("198.51.100.0/24", "203.0.113.0/24", "185.220.101.0/24", "45.83.64.0/22")
_INTERNAL_V6 = ("fd00:10::/64", "fd00:99::/64")
_EXTERNAL_V6 = ("2001:db8:1::/64", "2001:db8:ab::/64")
_IDS_SIGNATURES = (
    (2027865, "ET INFO Observed DNS Query to .cloud TLD", "Potentially Bad Traffic", "UDP", 53),
    (2001219, "ET SCAN Potential SSH Scan", "Attempted Information Leak", "TCP", 22),
    (2010935, "ET SCAN Suspicious inbound to MSSQL port 1433", "Potentially Bad Traffic", "TCP", 1433),
    (2013028, "ET POLICY curl User-Agent Outbound", "Attempted Information Leak", "TCP", 80),
    (2100498, "GPL ATTACK_RESPONSE id check returned root", "Potentially Bad Traffic", "TCP", 80),
)
# Each malformed line breaks the input in one way a real feed does; the reason is what the
# parser must answer.
_MALFORMATIONS = (INVALID_JSON, WRONG_TYPE, UNKNOWN_PRIORITY, CONTROL_CHARACTERS, MISSING_FIELD,
                  INVALID_VALUE, UNDECODABLE)
_SUBMETHOD = re.compile(r"Submethod:'([^']*)'")


@lru_cache(maxsize=None)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


class _Builder:
    """Builds one event at a time, remembering earlier triggers for duplicates and updates."""

    def __init__(self, rng: random.Random, start_id: int, now: datetime, count: int):
        self.rng = rng
        self.next_id = start_id
        self.start = now - timedelta(seconds=count)
        self.catalogue = load_catalogue()
        self.type_cycle: list[str] = []
        self.triggers: list[dict[str, Any]] = []
        self.trigger_lines: list[bytes] = []
        self.malformed = 0

    def build(self, kind: Kind, index: int) -> GeneratedEvent:
        detected = self.start + timedelta(seconds=index)
        if kind is Kind.TRIGGER:
            record = self.ads_record(detected)
            line = orjson.dumps(record)
            self.triggers.append(record)
            self.trigger_lines.append(line)
            return GeneratedEvent(kind, line)
        if kind is Kind.DUPLICATE:
            return GeneratedEvent(kind, self.rng.choice(self.trigger_lines))
        if kind is Kind.UPDATE:
            return GeneratedEvent(kind, orjson.dumps(self.update_of(self.rng.choice(self.triggers), detected)))
        if kind is Kind.IDS:
            return GeneratedEvent(kind, orjson.dumps(self.ids_record(detected)))
        reason = _MALFORMATIONS[self.malformed % len(_MALFORMATIONS)]
        self.malformed += 1
        return GeneratedEvent(kind, self.malformed_line(reason, detected), reason)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def next_type(self) -> str:
        # Every type once, in a shuffled order, before any type repeats.
        if not self.type_cycle:
            self.type_cycle = sorted(self.catalogue)
            self.rng.shuffle(self.type_cycle)
        return self.type_cycle.pop()

    def ads_record(self, detected: datetime, event_type: str | None = None) -> dict[str, Any]:
        rng = self.rng
        event_type = event_type or self.next_type()
        ipv6 = rng.random() < 0.25
        source = self.address(ipv6, internal=rng.random() < 0.7)
        targets = [self.address(ipv6, internal=rng.random() < 0.5) for _ in range(rng.randint(1, MAX_TARGETS))]
        mac = self.mac() if rng.random() < 0.6 or event_type == "ALIENDEV" else ""
        subtype, detail = self.detail(event_type, mac)
        port, protocol = self.service(event_type)
        record: dict[str, Any] = {
            "id": self.new_id(),
            "timestamp": detected.strftime(TIME_FORMAT),
            "firstFlow": (detected - timedelta(seconds=rng.randint(30, 900))).strftime(TIME_FORMAT),
            "type": event_type,
            "typeDesc": EVENT_TYPE_NAMES.get(event_type, ""),
            "subtype": subtype,
            "mitreAttack": self.mitre(event_type),
            "perspective": "",
            "severity": "",
            "detail": detail,
            "port": port,
            "protocol": protocol,
            "source": source,
            "capturedSource": rng.choice(("", "", f"ws-{rng.randint(1, 999):03d}.corp.example")),
            "targets": targets if rng.random() < 0.5 else ", ".join(targets),
            "netFlowSource": rng.choice(_DATA_FEEDS),
            "methodInstance": rng.choice(_METHOD_INSTANCES),
            "mac": mac,
            "userIdentity": rng.choice(("", "", "", "alice@corp.example", "bob@corp.example")),
        }
        self.maybe_priority(record)
        return record

    def maybe_priority(self, record: dict[str, Any]) -> None:
        """Some feeds carry the priority ADS gave (either key, either spelling of INFORMATION)."""
        roll = self.rng.random()
        if roll < 0.15:
            record["severity"] = self.rng.choice(_PRIORITY_WORDS)
        elif roll < 0.25:
            record["priority"] = self.rng.choice(_PRIORITY_WORDS)

    def address(self, ipv6: bool, internal: bool) -> str:
        pools = (_INTERNAL_V6 if internal else _EXTERNAL_V6) if ipv6 else (_INTERNAL_V4 if internal else _EXTERNAL_V4)
        network = _network(self.rng.choice(pools))
        offset = self.rng.randint(1, min(network.num_addresses - 2, 2**32))
        return str(network.network_address + offset)

    def mac(self) -> str:
        return "0c:70:" + ":".join(f"{self.rng.randrange(256):02x}" for _ in range(4))

    def detail(self, event_type: str, mac: str) -> tuple[str, str]:
        """(subtype, detail): a human detail, or for some events the machine-readable one; the
        subtype is the Submethod of the machine-readable variant picked."""
        entry = self.catalogue[event_type]
        index = self.rng.randrange(len(entry.human))
        # Where both lists have one line per variant they are in the same order.
        machine = (entry.machine[index] if len(entry.machine) == len(entry.human)
                   else self.rng.choice(entry.machine)) if entry.machine else ""
        found = _SUBMETHOD.search(machine)
        text = machine if machine and self.rng.random() < 0.2 else entry.human[index]
        return (found.group(1) if found else ""), text.replace(CATALOGUE_MAC, (mac or CATALOGUE_MAC).upper())

    def service(self, event_type: str) -> tuple[str, str]:
        if event_type in _SERVICES:
            return _SERVICES[event_type]
        if self.rng.random() < 0.5:
            return "", ""
        return str(self.rng.choice((80, 443, 445, 8080, 3306))), self.rng.choice(("TCP", "UDP"))

    def mitre(self, event_type: str) -> list[dict[str, Any]]:
        if event_type not in _MITRE:
            return []
        tactic_code, tactic_name, technique_code, technique_name = _MITRE[event_type]
        return [{"tactic": {"code": tactic_code, "name": tactic_name,
                            "techniques": [{"code": technique_code, "name": technique_name}]},
                 "version": 15}]

    def update_of(self, trigger: dict[str, Any], detected: datetime) -> dict[str, Any]:
        """The same event (ID and identity) detected again: new time, possibly new detail."""
        _, detail = self.detail(trigger["type"], trigger["mac"])
        return {**trigger, "timestamp": detected.strftime(TIME_FORMAT), "detail": detail, "update": True}

    def ids_record(self, detected: datetime) -> dict[str, Any]:
        rng = self.rng
        signature_id, name, category, protocol, port = rng.choice(_IDS_SIGNATURES)
        ipv6 = rng.random() < 0.25
        return {
            "id": self.new_id(),
            "firstSeen": (detected - timedelta(seconds=rng.randint(0, 60))).strftime(TIME_FORMAT),
            "lastSeen": detected.strftime(TIME_FORMAT),
            "srcIp": self.address(ipv6, internal=rng.random() < 0.5),
            "srcPort": rng.randint(1024, 65535),
            "dstIp": self.address(ipv6, internal=rng.random() < 0.5),
            "dstPort": port,
            "protocol": protocol,
            "signatureId": signature_id,
            "signatureName": name,
            "logSourceIp": "10.1.1.1",
            "logSourceInterface": rng.choice(("idsp_eth2_out", "idsp_eth3_in")),
            "category": category,
            "severity": str(rng.randint(1, 3)),
        }

    def malformed_line(self, reason: str, detected: datetime) -> bytes:
        # A type of its own, so that the valid triggers still cycle through every type.
        record = self.ads_record(detected, self.rng.choice(sorted(self.catalogue)))
        if reason == INVALID_JSON:  # cut off mid-line, as a truncated write leaves it
            line = orjson.dumps(record)
            return line[: len(line) // 2]
        if reason == UNDECODABLE:  # a Latin-1 detail from a legacy exporter
            return orjson.dumps({**record, "detail": "@@"}).replace(b"@@", "Zürich".encode("latin-1"))
        changes = {
            WRONG_TYPE: {"id": str(record["id"])},
            UNKNOWN_PRIORITY: {"priority": "URGENT"},
            CONTROL_CHARACTERS: {"subtype": "General\x1b[31m"},
            INVALID_VALUE: {"source": "10.10.0.300"},
        }
        if reason == MISSING_FIELD:
            del record["source"]
            return orjson.dumps(record)
        return orjson.dumps({**record, **changes[reason]})
