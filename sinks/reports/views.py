"""What the report templates receive: events and counts turned into display values (times in the
report's zone, links, bounded target lists). Pure functions of (content, settings); the templates
only lay these out, so a template override cannot get a time zone or a link wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from streams.config import EmailAction, EmailSettings
from streams.event_types import EVENT_TYPE_NAMES
from streams.events import AdsEvent

from .content import ReportContent
from .periods import Period

# Targets shown per event in every format (the seed's per-event mail lists the first 10).
TARGETS_SHOWN = 10
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Line breaks (also Unicode's), tabs and other control characters: free-text event fields may
# hold them, and a line-oriented body (per-event fields, RT incident lines) must not be split.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    return _BREAKS.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class Link:
    """Text and, when active links are on and a URL template is set, where it points."""

    text: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    id: Link
    detected: str
    first_flow: str
    type: str
    description: str
    subtype: str
    priority: str
    source: Link
    targets: tuple[Link, ...]  # at most TARGETS_SHOWN
    more_targets: int  # targets not shown
    detail: str
    protocol: str
    ports: str
    data_feed: str
    user_identity: str


@dataclass(frozen=True, slots=True)
class TypeSection:
    """One event type of the period: every event of it counted, the listed ones as rows."""

    type: str
    description: str
    count: int
    rows: tuple[EventRow, ...]


@dataclass(frozen=True, slots=True)
class GroupRow:
    type: str
    description: str
    source: Link
    count: int


@dataclass(frozen=True, slots=True)
class PeriodView:
    start: str
    end: str
    zone: str
    cadence: str
    label: str  # short, for subjects: "2026-11-22 17:00-18:00 CET", "2026-11-22", "week of 2026-11-16"
    start_utc: str  # ISO 8601
    end_utc: str


# Times as the seed's RT example writes them: 2015-11-05 17:00:13 GMT+0100.
RT_TIME_FORMAT = f"{TIME_FORMAT} GMT%z"


@dataclass(frozen=True)
class Display:
    """How one mail shows times (zone, format) and links."""

    zone: ZoneInfo
    time_format: str
    event_url: str | None = None
    ip_url: str | None = None

    @classmethod
    def of(cls, report: EmailAction, settings: EmailSettings, zone: str, *, show_timezone: bool | None = None,
           time_format: str | None = None, links: bool = False) -> "Display":
        """``show_timezone`` defaults to the report's option; ``links``: this format may link
        (active links make the Full format's links clickable)."""
        show = report.show_timezone if show_timezone is None else show_timezone
        active = links and report.active_links
        return cls(ZoneInfo(zone), time_format or (f"{TIME_FORMAT} %Z" if show else TIME_FORMAT),
                   settings.links.event if active else None, settings.links.ip if active else None)

    def time(self, moment: datetime | None) -> str:
        return moment.astimezone(self.zone).strftime(self.time_format) if moment is not None else ""

    def event_id(self, event_id: int) -> Link:
        return Link(str(event_id), _url(self.event_url, "{id}", str(event_id)))

    def ip(self, address: str) -> Link:
        return Link(address, _url(self.ip_url, "{ip}", address))

    def row(self, event: AdsEvent, priority: str) -> EventRow:
        return EventRow(
            id=self.event_id(event.id), detected=self.time(event.detected_at), first_flow=self.time(event.first_flow),
            type=event.type, description=type_description(event.type, {event.type: event.type_desc}),
            subtype=event.subtype, priority=priority, source=self.ip(event.source),
            targets=tuple(self.ip(target) for target in event.targets[:TARGETS_SHOWN]),
            more_targets=max(0, len(event.targets) - TARGETS_SHOWN), detail=event.detail, protocol=event.protocol,
            ports=event.ports, data_feed=event.data_feed, user_identity=event.user_identity)


def _url(template: str | None, placeholder: str, value: str) -> str | None:
    # str.replace, not str.format: other braces in the URL template stay as they are.
    return template.replace(placeholder, quote(value, safe=":")) if template else None


def type_description(event_type: str, descriptions: dict[str, str] | None = None) -> str:
    return (descriptions or {}).get(event_type) or EVENT_TYPE_NAMES.get(event_type, "")


def period_view(period: Period) -> PeriodView:
    zone = ZoneInfo(period.zone)
    start, end = period.start.astimezone(zone), period.end.astimezone(zone)
    day = "%Y-%m-%d"
    if period.immediate:
        label = start.strftime(f"{TIME_FORMAT} %Z")
    elif period.cadence == "daily":
        label = start.strftime(day)
    elif period.cadence == "weekly":
        label = f"week of {start.strftime(day)}"
    else:
        # Seconds only for the short periods tests and demos configure.
        clock = "%H:%M:%S" if start.second or end.second else "%H:%M"
        end_format = f"{clock} %Z" if start.date() == end.date() else f"{day} {clock} %Z"
        label = f"{start.strftime(f'{day} {clock}')}-{end.strftime(end_format)}"
    return PeriodView(start=start.strftime(f"{TIME_FORMAT} %Z"), end=end.strftime(f"{TIME_FORMAT} %Z"),
                      zone=period.zone, cadence=period.cadence, label=label,
                      start_utc=_iso_utc(period.start), end_utc=_iso_utc(period.end))


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def type_sections(content: ReportContent, display: Display) -> tuple[TypeSection, ...]:
    """Most frequent type first; every counted type has a section, with or without listed rows."""
    rows: dict[str, list[EventRow]] = {}
    for event in content.events:
        rows.setdefault(event.type, []).append(display.row(event, content.priority.name))
    ordered = sorted(content.type_counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(TypeSection(event_type, type_description(event_type, dict(content.type_descriptions)), count,
                             tuple(rows.get(event_type, ())))
                 for event_type, count in ordered)


def group_rows(content: ReportContent, display: Display) -> tuple[GroupRow, ...]:
    descriptions = dict(content.type_descriptions)
    return tuple(GroupRow(group.type, type_description(group.type, descriptions), display.ip(group.source),
                          group.count) for group in content.groups)


@dataclass(frozen=True)
class RtTicket:
    """One RT mail: the events of one type from one source IP in the period."""

    type: str
    description: str
    source: str
    count: int  # every event of the group in the period, listed or not
    events: tuple[AdsEvent, ...]  # the listed ones, in routed order: the first is the leader
    rows: tuple[EventRow, ...]

    @property
    def leader(self) -> EventRow | None:
        return self.rows[0] if self.rows else None

    @property
    def not_listed(self) -> int:
        return self.count - len(self.rows)


def rt_tickets(content: ReportContent, display: Display) -> tuple[RtTicket, ...]:
    """Groups with listed events first, in the order their leaders were routed; then the groups
    whose events were all left out (counted only). A listed event whose group was not counted
    (over email.max_groups) still gets its ticket, counting the listed events."""
    listed: dict[tuple[str, str], list[AdsEvent]] = {}
    for event in content.events:
        listed.setdefault((event.type, event.source), []).append(event)
    counted = {(group.type, group.source): group.count for group in content.groups}
    keys = list(listed) + [key for key in counted if key not in listed]
    descriptions = dict(content.type_descriptions)
    tickets = []
    for event_type, source in keys:
        events = tuple(listed.get((event_type, source), ()))
        tickets.append(RtTicket(
            type=event_type, description=type_description(event_type, descriptions), source=source,
            count=max(counted.get((event_type, source), 0), len(events)), events=events,
            rows=tuple(display.row(event, content.priority.name) for event in events)))
    return tuple(tickets)
