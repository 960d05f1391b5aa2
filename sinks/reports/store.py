"""The open report periods, kept in a Faust table whose changelog is their durable form.

One table, ``report-periods``, holds every (report, priority, period) aggregate of the partitions
this worker owns, as small entries under one prefix per period, so that adding an event writes a
few short changelog records instead of the whole aggregate:

    P|<partition>|<report>|<priority>|<start ms>|<end ms>|e|<event id>      the event (Avro), listed
    P|<partition>|<report>|<priority>|<start ms>|<end ms>|g|<source>|<type> events per (type, source)
    P|<partition>|<report>|<priority>|<start ms>|<end ms>|t|<type>          events per type
    W|<partition>                                                       last input offset applied

Every entry of a period lives in the changelog partition of the input partition its events came
from (the router keys email messages by report and priority, streams/routing.py), so the worker
that owns that partition owns the whole period: no report is split between workers.

Memory is bounded per period: at most ``email.max_rows`` events listed and ``email.max_groups``
(type, source) counters, whatever the number of events; beyond them only the per-type counts grow,
and there are as many of those as event types.

Replays are harmless: an input offset at or below the partition's ``W`` entry was applied already
(a crash after the changelog write, before the offset commit), and a listed event is never listed
twice. A duplicate routed at a new offset (a router crash between sending and marking) is counted
twice if the period had already listed ``max_rows`` events: it is never listed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import MutableMapping

from streams.avro_codec import AvroCodec, ads_event_from_record, ads_event_record
from streams.config import EmailAction, EmailSettings, Settings
from streams.events import AdsEvent
from streams.priorities import Priority

from .content import ReportContent, descriptions, ordered_groups
from .periods import Period, period_length

# (key, value or None to delete, changelog partition)
ChangelogWrite = tuple[str, bytes | None, int]


@dataclass(frozen=True, slots=True)
class PeriodKey:
    partition: int
    report: str
    priority: Priority
    start_ms: int
    end_ms: int

    @property
    def prefix(self) -> str:
        return f"P|{self.partition}|{self.report}|{self.priority.name}|{self.start_ms}|{self.end_ms}|"

    @property
    def name(self) -> str:
        """Names the period in the report-sent table and in logs."""
        return f"{self.partition}|{self.report}|{self.priority.name}|{self.start_ms}"

    def period(self, zone: str, settings: EmailSettings) -> Period:
        return Period(_utc(self.start_ms), _utc(self.end_ms), zone, period_length(self.priority, settings),
                      immediate=self.priority is Priority.CRITICAL)

    @classmethod
    def of(cls, partition: int, report: str, priority: Priority, period: Period) -> "PeriodKey":
        return cls(partition, report, priority, _ms(period.start), _ms(period.end))

    @classmethod
    def parse(cls, key: str) -> tuple["PeriodKey", str]:
        """The period of a ``P|`` table key, and the rest of the key (``e|...``, ``g|...``, ``t|...``)."""
        _, partition, report, priority, start, end, rest = key.split("|", 6)
        return cls(int(partition), report, Priority[priority], int(start), int(end)), rest


@dataclass(slots=True)
class OpenPeriod:
    """What the store knows of a period without reading its entries: for the limits."""

    key: PeriodKey
    listed: int = 0
    groups: int = 0
    # Entries of the period, to delete it without scanning the table.
    entries: list[str] = field(default_factory=list)


class ReportStore:
    def __init__(self, data: MutableMapping[str, bytes], settings: Settings):
        self.data = data
        self.settings = settings
        self.periods: dict[PeriodKey, OpenPeriod] = {}
        self._codec = AvroCodec("ads_actions.AdsEvent")
        self.rebuild()

    def rebuild(self) -> None:
        """Index the table's entries by period: after a recovery or a rebalance changed them."""
        periods: dict[PeriodKey, OpenPeriod] = {}
        for key in list(self.data):
            if not key.startswith("P|"):
                continue
            period_key, rest = PeriodKey.parse(key)
            period = periods.get(period_key)
            if period is None:
                period = periods[period_key] = OpenPeriod(period_key)
            period.entries.append(key)
            if rest.startswith("e|"):
                period.listed += 1
            elif rest.startswith("g|"):
                period.groups += 1
        self.periods = periods

    def applied_offset(self, partition: int) -> int:
        value = self.data.get(f"W|{partition}")
        return -1 if value is None else int(value)

    def set_applied_offset(self, partition: int, offset: int) -> ChangelogWrite:
        key, value = f"W|{partition}", str(offset).encode()
        self.data[key] = value
        return key, value, partition

    def add(self, key: PeriodKey, event: AdsEvent) -> tuple[list[ChangelogWrite], bool]:
        """Count the event in its period and list it if there is room. Returns the changelog
        writes and whether the event was listed (False: counted only, or a duplicate)."""
        period = self.periods.get(key)
        if period is None:
            period = self.periods[key] = OpenPeriod(key)
        prefix = key.prefix
        row_key = f"{prefix}e|{event.id}"
        if row_key in self.data:
            return [], False
        writes: list[ChangelogWrite] = []
        listed = period.listed < self.settings.email.max_rows
        if listed:
            period.listed += 1
            writes.append(self._put(period, row_key, self._codec.encode(ads_event_record(event))))
        group_key = f"{prefix}g|{event.source}|{event.type}"
        if group_key in self.data or period.groups < self.settings.email.max_groups:
            if group_key not in self.data:
                period.groups += 1
            writes.append(self._increment(period, group_key))
        writes.append(self._increment(period, f"{prefix}t|{event.type}"))
        return writes, listed

    def content(self, key: PeriodKey, report: EmailAction, zone: str) -> ReportContent:
        events: list[AdsEvent] = []
        groups: dict[tuple[str, str], int] = {}
        type_counts: dict[str, int] = {}
        period = self.periods.get(key)
        for entry in period.entries if period else ():
            value = self.data.get(entry)
            if value is None:
                continue
            rest = entry[len(key.prefix):]
            if rest.startswith("e|"):
                events.append(ads_event_from_record(self._codec.decode(value)))
            elif rest.startswith("g|"):
                source, type_ = rest[2:].split("|", 1)
                groups[(type_, source)] = int(value)
            elif rest.startswith("t|"):
                type_counts[rest[2:]] = int(value)
        return ReportContent(report, key.priority, key.period(zone, self.settings.email), tuple(events), ordered_groups(groups),
                             type_counts, descriptions(events))

    def event_count(self, key: PeriodKey) -> int:
        period = self.periods.get(key)
        type_prefix = key.prefix + "t|"
        return sum(int(self.data.get(entry) or 0) for entry in (period.entries if period else ())
                   if entry.startswith(type_prefix))

    def remove(self, key: PeriodKey) -> list[ChangelogWrite]:
        """Forget a sent period: deletes its entries here and, by tombstones, in the changelog."""
        period = self.periods.pop(key, None)
        writes: list[ChangelogWrite] = []
        for entry in period.entries if period else ():
            if self.data.pop(entry, None) is not None:
                writes.append((entry, None, key.partition))
        return writes

    def _put(self, period: OpenPeriod, entry: str, value: bytes) -> ChangelogWrite:
        if entry not in self.data:
            period.entries.append(entry)
        self.data[entry] = value
        return entry, value, period.key.partition

    def _increment(self, period: OpenPeriod, entry: str) -> ChangelogWrite:
        current = self.data.get(entry)
        return self._put(period, entry, str(1 + (int(current) if current is not None else 0)).encode())


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)
