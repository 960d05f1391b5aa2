"""``ads-actions render-report``: the mails an email report would send for a file of events,
printed with their headers and every part: how a user previews a format, templates and links.

Events are read as ``publish`` reads them (one JSON object a line, with the input limits). Each
gets its priority in the report's perspective, as the worker routes it; events below the report's
min_priority, event updates and IDS events are left out, and invalid lines are reported on stderr.
All the events of one priority go in one period: the period of that priority that holds the
latest of their detection times.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage

import click

from sinks.reports.content import ReportContent, content_from_events
from sinks.reports.periods import period_at, report_zone
from sinks.reports.render import ReportTemplates, render_mails

from .config import EmailAction, Settings
from .events import (AdsEvent, InputLimits, InvalidEvent, ads_event_from_mapping, decode_json_object,
                     looks_like_ids)
from .priorities import Priority
from .routing import Router

ATTACHMENT_LINES_SHOWN = 5


def read_events(data: bytes, limits: InputLimits) -> tuple[list[AdsEvent], list[str]]:
    """(ADS event triggers, one note per line that is left out)."""
    events, notes = [], []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = decode_json_object(line, limits)
            if looks_like_ids(obj):
                notes.append(f"line {number}: an IDS event; reports list ADS events only")
                continue
            event = ads_event_from_mapping(obj, limits)
        except InvalidEvent as exc:
            notes.append(f"line {number}: invalid event ({exc.reason}): {exc.message}")
            continue
        if event.is_update:
            notes.append(f"line {number}: event {event.id} is an update; the worker skips updates")
            continue
        events.append(event)
    return events, notes


def report_contents(settings: Settings, report: EmailAction, events: list[AdsEvent],
                    priority: Priority | None = None) -> list[ReportContent]:
    """What the report's periods would hold: one content per priority that has events (most urgent
    first), or for ``priority`` alone, even without events."""
    perspective = next(p for p in Router(settings).perspectives if p.name == report.perspective)
    by_priority: dict[Priority, list[AdsEvent]] = {}
    for event in events:
        event_priority = perspective.priority_of(event)
        if event_priority is not None and event_priority >= report.min_priority:
            by_priority.setdefault(event_priority, []).append(event)
    chosen = [priority] if priority is not None else sorted(by_priority, reverse=True)
    zone = report_zone(report, settings.email)
    contents = []
    for each in chosen:
        listed = by_priority.get(each, [])
        latest = max((event.detected_at for event in listed or events), default=datetime.now(timezone.utc))
        contents.append(content_from_events(report, each, period_at(latest, each, zone, settings.email), listed,
                                            settings.email.max_rows, settings.email.max_groups))
    return contents


def format_mail(mail: EmailMessage) -> str:
    """Headers, then every part: text decoded, attachments by name, type, size and first lines."""
    lines = [f"{name}: {value}" for name, value in mail.items()]
    for part in mail.walk():
        if part.is_multipart():
            continue
        if part.is_attachment():
            payload = part.get_payload(decode=True) or b""
            text = payload.decode("utf-8", errors="replace").splitlines()
            lines += ["", f"---- attachment {part.get_filename()} ({part.get_content_type()}, "
                          f"{len(payload)} bytes) ----", *text[:ATTACHMENT_LINES_SHOWN]]
            if len(text) > ATTACHMENT_LINES_SHOWN:
                lines.append(f"... ({len(text) - ATTACHMENT_LINES_SHOWN} more lines)")
        else:
            lines += ["", f"---- part {part.get_content_type()} ----", part.get_content().rstrip("\n")]
    return "\n".join(lines)


def render_report_command(settings: Settings, report_name: str, data: bytes, priority: Priority | None,
                          raw: bool) -> int:
    """Print the mails; returns the exit status (1: no such email report)."""
    report = next((action for action in settings.actions.email if action.name == report_name), None)
    if report is None:
        known = ", ".join(action.name for action in settings.actions.email) or "none defined"
        click.echo(f"render-report: expected the name of an email report ({known}), found {report_name!r}", err=True)
        return 1
    if not report.active:
        click.echo(f"render-report: note: report {report.name} is inactive; the worker sends nothing for it",
                   err=True)
    events, notes = read_events(data, InputLimits.from_settings(settings.input))
    for note in notes:
        click.echo(f"render-report: {note}", err=True)
    contents = report_contents(settings, report, events, priority)
    if not contents:
        click.echo(f"render-report: none of the {len(events)} events reaches report {report.name} (perspective "
                   f"{report.perspective}, min_priority {report.min_priority.name})", err=True)
    templates = ReportTemplates.from_settings(settings)
    mails = [mail for content in contents for mail in render_mails(content, settings, templates)]
    for number, mail in enumerate(mails, start=1):
        click.echo(f"==== mail {number} of {len(mails)} ====")
        click.echo(mail.as_string() if raw else format_mail(mail))
        click.echo()
    return 0
