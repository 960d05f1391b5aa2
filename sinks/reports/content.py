"""What one report mail set is made of: the events of one (report, priority, period), as the
formatting functions (``sinks/reports/render.py``) receive them. Built from the report tables
by the worker, or straight from a list of events by ``ads-actions render-report``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from streams.config import EmailAction
from streams.event_types import EVENT_TYPE_NAMES
from streams.events import AdsEvent
from streams.priorities import Priority

from .periods import Period


@dataclass(frozen=True, slots=True)
class GroupCount:
    """Events of one type from one source IP in the period, listed or not."""

    type: str
    source: str
    count: int


@dataclass(frozen=True)
class ReportContent:
    report: EmailAction
    priority: Priority
    period: Period
    # Listed events in the order they were routed, at most email.max_rows of them.
    events: tuple[AdsEvent, ...]
    # Per (type, source): every event of the period, listed or not, at most email.max_groups
    # groups; most events first.
    groups: tuple[GroupCount, ...]
    # Per type: every event of the period.
    type_counts: Mapping[str, int]
    # Type code -> description, for every type in type_counts that a listed event described.
    type_descriptions: Mapping[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.type_counts.values())

    @property
    def left_out(self) -> int:
        """Events counted but not listed (over email.max_rows)."""
        return self.total - len(self.events)

    @property
    def ungrouped(self) -> int:
        """Events counted per type only (over email.max_groups)."""
        return self.total - sum(group.count for group in self.groups)


def content_from_events(report: EmailAction, priority: Priority, period: Period, events: Iterable[AdsEvent],
                        max_rows: int, max_groups: int) -> ReportContent:
    """Aggregate events in memory the way the report tables do: the first ``max_rows`` listed,
    the first ``max_groups`` (type, source) pairs counted per group, every event counted per type."""
    listed: list[AdsEvent] = []
    seen: set[int] = set()
    groups: Counter[tuple[str, str]] = Counter()
    type_counts: Counter[str] = Counter()
    for event in events:
        if event.id in seen:
            continue
        seen.add(event.id)
        if len(listed) < max_rows:
            listed.append(event)
        group = (event.type, event.source)
        if group in groups or len(groups) < max_groups:
            groups[group] += 1
        type_counts[event.type] += 1
    return ReportContent(report, priority, period, tuple(listed), ordered_groups(groups), dict(type_counts),
                         descriptions(listed))


def ordered_groups(counts: Mapping[tuple[str, str], int]) -> tuple[GroupCount, ...]:
    return tuple(GroupCount(type_, source, count) for (type_, source), count
                 in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def descriptions(events: Iterable[AdsEvent]) -> dict[str, str]:
    """A name per type: ADS's own for the types it has (one odd event cannot rename a type in
    every summary and ticket), else the first description an event came with."""
    found: dict[str, str] = {}
    for event in events:
        if event.type_desc:
            found.setdefault(event.type, EVENT_TYPE_NAMES.get(event.type, event.type_desc))
    return found
