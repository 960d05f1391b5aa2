"""Report mails: one ``ReportContent`` (a report's events of one priority and period) in, the
``EmailMessage`` objects to send out, per the report's format. Pure: no clock, no network; the
only I/O is reading the Jinja2 templates.

Formats: ``full`` (one multipart/alternative mail, text and an HTML table), ``compact`` and
``extra_compact`` (one plain-text mail), ``per_event`` (a mail per listed event with the seed's
field list), ``rt`` (a mail per (event type, source IP) with the X-RT-* headers). Every mail has
the same Message-ID when rendered again from the same period, so receivers can drop a re-sent one.

Safety: event fields reach headers only through ``header_text`` (no control characters, bounded)
and ``EmailMessage`` with the default policy, which refuses line breaks in any header; bodies are
set with ``set_content`` (the generator picks a boundary that no part contains); the HTML template
is autoescaped; attachment file names are ours.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

from streams.config import Settings
from streams.events import AdsEvent

from .content import ReportContent
from .views import (RT_TIME_FORMAT, Display, EventRow, PeriodView, RtTicket, group_rows, one_line, period_view,
                    rt_tickets, type_description, type_sections)

SUMMARY_FORMATS = ("full", "compact", "extra_compact")
HEADER_LIMIT = 200  # characters of one header value made from event fields (subjects included)


class ReportTemplates:
    """The shipped templates (``sinks/reports/templates``), each overridable by a file of the same
    name in ``email.template_directory``."""

    def __init__(self, template_directory: str | None = None):
        loaders: list[Any] = [PackageLoader("sinks.reports", "templates")]
        if template_directory:
            loaders.insert(0, FileSystemLoader(template_directory))
        self.environment = Environment(
            loader=ChoiceLoader(loaders), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False))
        self.environment.filters.update(plural=plural, one_line=one_line, target_list=target_list)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ReportTemplates":
        return cls(settings.email.template_directory)

    def render(self, name: str, **variables: Any) -> str:
        return self.environment.get_template(name).render(**variables)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def target_list(row: EventRow) -> str:
    shown = ", ".join(target.text for target in row.targets)
    return f"{shown} (+{row.more_targets} more)" if row.more_targets else shown


_UNSAFE_FILE_NAME = re.compile(r"[^A-Za-z0-9.-]+")


def header_text(value: str, limit: int = HEADER_LIMIT) -> str:
    """One line of at most ``limit`` characters: what an event field may put in a header."""
    text = re.sub(r"\s+", " ", one_line(value))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_mails(content: ReportContent, settings: Settings, templates: ReportTemplates, *,
                 date: datetime | None = None) -> list[EmailMessage]:
    """The mails of one (report, priority, period), in sending order. ``date`` (the Date header)
    defaults to the end of the period. A period without events gives one "no events" mail (the
    caller decides whether it is sent); per-event and RT mails get one more mail when some events
    were counted but not listed (``email.max_rows``), saying how many."""
    mails = _Mails(content, settings, templates, date or content.period.end)
    report_format = content.report.format
    if content.total == 0 or report_format in SUMMARY_FORMATS:
        return [mails.summary()]
    if report_format == "per_event":
        rendered = [mails.per_event(event) for event in content.events]
        unmailed = content.left_out
    else:
        tickets = rt_tickets(content, Display.of(content.report, settings.email, mails.zone,
                                                 time_format=RT_TIME_FORMAT))
        rendered = [mails.rt(ticket) for ticket in tickets]
        unmailed = content.total - sum(ticket.count for ticket in tickets)
    if unmailed > 0:
        rendered.append(mails.left_out(unmailed))
    return rendered


@dataclass
class _Mails:
    content: ReportContent
    settings: Settings
    templates: ReportTemplates
    date: datetime

    def __post_init__(self) -> None:
        self.zone = self.content.period.zone
        self.tz = ZoneInfo(self.zone)
        self.period: PeriodView = period_view(self.content.period)
        self.common = {"report": self.content.report, "priority": self.content.priority.name, "period": self.period}
        self.prefix = f"{self.settings.email.subject_prefix} " if self.settings.email.subject_prefix else ""

    # ---- the mails ----

    def summary(self) -> EmailMessage:
        content, report = self.content, self.content.report
        # The seed: active links make the Full format's links clickable; show timezone applies to
        # Full, Compact and per-event mails (an empty per-event or RT period renders as Compact).
        display = Display.of(report, self.settings.email, self.zone, links=report.format == "full",
                             show_timezone=False if report.format == "extra_compact" else None)
        variables = {**self.common, "total": content.total, "listed": len(content.events),
                     "left_out": content.left_out, "ungrouped": content.ungrouped,
                     "sections": type_sections(content, display), "groups": group_rows(content, display)}
        text_template = "compact.txt.j2" if report.format in ("per_event", "rt") else f"{report.format}.txt.j2"
        mail = self._mail(self._summary_subject(), "summary")
        mail.set_content(self.templates.render(text_template, **variables))
        if report.format == "full":
            mail.add_alternative(self.templates.render("full.html.j2", **variables), subtype="html")
        return mail

    def per_event(self, event: AdsEvent) -> EmailMessage:
        report = self.content.report
        # The seed: "Time: start time in UTC".
        display = Display.of(report, self.settings.email, "UTC")
        row = display.row(event, self.content.priority.name)
        subject = (f"{self.prefix}{self.content.priority.name} {event.type} from {event.source}: "
                   f"{type_description(event.type, {event.type: event.type_desc})} (event {event.id})")
        mail = self._mail(subject, f"event|{event.id}", {"X-ADS-Actions-Event-ID": str(event.id)})
        mail.set_content(self.templates.render("per_event.txt.j2", **self.common, event=row,
                                               time=display.time(event.first_flow or event.detected_at)))
        if report.attach_flows:
            _attach_flows(mail, f"event-{event.id}-flows.csv", [event], with_event_id=False)
        return mail

    def rt(self, ticket: RtTicket) -> EmailMessage:
        leader = ticket.events[0] if ticket.events else None
        incident_time = leader.detected_at if leader else self.content.period.start
        name = ticket.description or ticket.type
        headers = {
            "X-RT-Tool-Name": f"{self.settings.email.rt_tool_name} {name}",
            "X-RT-Incident-IP": ticket.source,
            "X-RT-Incident-Time": incident_time.astimezone(self.tz).strftime(RT_TIME_FORMAT),
        }
        subject = (f"{self.prefix}{self.content.priority.name} {name} from {ticket.source}: "
                   f"{plural(ticket.count, 'event')} ({self.period.cadence}, {self.period.label})")
        mail = self._mail(subject, f"rt|{ticket.type}|{ticket.source}", headers)
        mail.set_content(self.templates.render("rt.txt.j2", **self.common, ticket=ticket))
        if self.content.report.attach_flows:
            _attach_flows(mail, _file_name("flows", ticket.type, ticket.source), ticket.events, with_event_id=True)
        return mail

    def left_out(self, count: int) -> EmailMessage:
        content = self.content
        subject = (f"{self.prefix}{content.priority.name} {self.period.cadence} report {content.report.name}: "
                   f"{plural(count, 'more event')} not mailed one by one ({self.period.label})")
        mail = self._mail(subject, "left-out")
        counts = sorted(content.type_counts.items(), key=lambda item: (-item[1], item[0]))
        mail.set_content(self.templates.render(
            "left_out.txt.j2", **self.common, count=count, total=content.total,
            type_counts=[(event_type, type_description(event_type, dict(content.type_descriptions)), n)
                         for event_type, n in counts]))
        return mail

    # ---- headers ----

    def _summary_subject(self) -> str:
        content = self.content
        cadence = "" if content.period.immediate else f"{self.period.cadence} "
        if content.total == 0:
            counts = "no events"
        else:
            types = sorted(content.type_counts.items(), key=lambda item: (-item[1], item[0]))
            shown = ", ".join(f"{n} {event_type}" for event_type, n in types[:3])
            more = f", +{plural(len(types) - 3, 'more type')}" if len(types) > 3 else ""
            counts = f"{plural(content.total, 'event')} ({shown}{more})"
        return f"{self.prefix}{content.priority.name} {cadence}report {content.report.name}: {counts}, " \
               f"{self.period.label}"

    def _mail(self, subject: str, key: str, extra: Mapping[str, str] | None = None) -> EmailMessage:
        content, from_address = self.content, self.settings.smtp.from_address
        mail = EmailMessage(policy=default_policy)
        mail["From"] = from_address
        mail["To"] = ", ".join(content.report.recipients)
        mail["Subject"] = header_text(subject)
        mail["Date"] = format_datetime(self.date.astimezone(self.tz))
        mail["Message-ID"] = message_id(content, key, from_address)
        # RFC 3834: machine-made; autoresponders do not answer it.
        mail["Auto-Submitted"] = "auto-generated"
        mail["X-ADS-Actions-Report"] = content.report.name
        mail["X-ADS-Actions-Priority"] = content.priority.name
        mail["X-ADS-Actions-Period"] = f"{self.period.start_utc}/{self.period.end_utc}"
        mail["X-ADS-Actions-Format"] = content.report.format
        for name, value in (extra or {}).items():
            mail[name] = header_text(value)
        return mail


def message_id(content: ReportContent, key: str, from_address: str) -> str:
    """The same for the same (report, priority, period, mail key): a re-sent mail keeps it."""
    identity = "|".join((content.report.name, content.priority.name, content.period.key, key))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    domain = re.sub(r"[^A-Za-z0-9.-]", "", parseaddr(from_address)[1].rpartition("@")[2]) or "localhost"
    return f"<ads-actions.{digest}@{domain}>"


def _file_name(*parts: str) -> str:
    return "-".join(_UNSAFE_FILE_NAME.sub("_", part) for part in parts) + ".csv"


def flows_csv(events: Iterable[AdsEvent], with_event_id: bool) -> str:
    """The events' flow samples, one row each; columns are every key seen, in first-seen order."""
    events = list(events)
    columns: dict[str, None] = {}
    for event in events:
        for flow in event.flows:
            columns.update(dict.fromkeys(flow))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow((["event_id"] if with_event_id else []) + list(columns))
    for event in events:
        for flow in event.flows:
            writer.writerow(([event.id] if with_event_id else []) + [flow.get(column, "") for column in columns])
    return out.getvalue()


def _attach_flows(mail: EmailMessage, file_name: str, events: Iterable[AdsEvent], with_event_id: bool) -> None:
    events = [event for event in events if event.flows]
    if events:
        mail.add_attachment(flows_csv(events, with_event_id), subtype="csv", filename=file_name)
