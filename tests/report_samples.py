"""Report settings, realistic events and mail parsing shared by the report format tests
(tests/unit/test_report_render.py, tests/integration/test_report_formats.py)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from sinks.reports.content import ReportContent, content_from_events
from sinks.reports.periods import period_at, report_zone
from streams.config import Settings
from streams.events import AdsEvent, InputLimits, ads_event_from_mapping
from streams.generator import load_catalogue
from streams.priorities import Priority

RECIPIENTS = ["soc@example.org", "noc@example.org"]
FROM_ADDRESS = "ads-actions@reports.example.org"
EVENT_URL = "https://ads.example.org/events/{id}"
IP_URL = "https://ads.example.org/hosts/{ip}"
# 17:00-18:00 in Europe/Prague (CET, +0100).
HOUR_START = datetime(2026, 11, 22, 16, 0, tzinfo=timezone.utc)


def report_settings(report_format: str = "full", email_section: dict | None = None, **report: Any) -> Settings:
    return Settings.model_validate({
        "perspectives": {"security": {"id": 1, "rules": [
            {"types": ["DOS", "SSHDICT"], "priority": "CRITICAL"},
            {"types": ["SCANS", "DNSANOMALY", "ALIENDEV"], "priority": "HIGH"}]}},
        "smtp": {"from_address": FROM_ADDRESS},
        "email": {"timezone": "Europe/Prague", "links": {"event": EVENT_URL, "ip": IP_URL}, **(email_section or {})},
        "actions": {"email": [{"name": "soc-reports", "perspective": "security", "recipients": RECIPIENTS,
                               "min_priority": "HIGH", "format": report_format, **report}]},
    })


def catalogue_detail(event_type: str, variant: int = 0) -> str:
    details = load_catalogue()[event_type].human
    return details[variant % len(details)]


def ads_event(event_id: int, event_type: str, source: str, minute: int, targets: list[str] | None = None,
              flows: list[dict] | None = None, **fields: Any) -> AdsEvent:
    """A valid event, parsed as the worker parses it, detected ``minute`` minutes into HOUR_START."""
    detected = HOUR_START.replace(minute=minute)
    record = {"id": event_id, "timestamp": detected.strftime("%Y-%m-%d %H:%M:%S"),
              "firstFlow": (detected - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S"),
              "type": event_type, "source": source, "targets": targets or ["192.168.112.10"],
              "detail": catalogue_detail(event_type, event_id % 3), "netFlowSource": "Default", "port": "22",
              "protocol": "TCP", "flows": flows or [], **fields}
    return ads_event_from_mapping(record, InputLimits())


def hostile_event(event_id: int, minute: int) -> AdsEvent:
    """Fields the parser would refuse (line breaks in identifiers), as a broken producer or a
    table written by an older version could still hand them to the formatter."""
    event = ads_event(event_id, "SCANS", "10.0.0.66", minute, targets=["192.168.1.1"],
                      flows=[{"src": "10.0.0.66", "dst": "192.168.1.1", "bytes": "60"}])
    return replace(
        event, source="10.0.0.66\r\nBcc: evil@attacker.example",
        type_desc="Port scanning\r\nBcc: evil@attacker.example\r\nX-Injected: yes",
        detail="</td></table><script>alert(1)</script>\n--===============0000000000000000000==\n"
               "Content-Type: text/html\r\n\r\nBcc: evil@attacker.example — příliš žluťoučký kůň",
        subtype="<img src=x onerror=alert(1)>", user_identity="alice@corp.example\r\nTo: evil@attacker.example")


def report_content(settings: Settings, events: list[AdsEvent], priority: Priority = Priority.HIGH,
                   max_rows: int | None = None, max_groups: int | None = None) -> ReportContent:
    report = settings.actions.email[0]
    period = period_at(HOUR_START.replace(minute=30), priority, report_zone(report, settings.email), settings.email)
    return content_from_events(report, priority, period, events, max_rows or settings.email.max_rows,
                               max_groups or settings.email.max_groups)


def subject(message: EmailMessage) -> str:
    # Python folds a subject that fits on a line of its own onto the next line ("Subject:\n [ADS]
    # ..."), and its parser then keeps the folding space; mail clients do not show it.
    return str(message["Subject"]).strip()


def reparsed(message: EmailMessage) -> EmailMessage:
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def leaf_parts(message: EmailMessage) -> list[EmailMessage]:
    return [part for part in message.walk() if not part.is_multipart()]


def body_text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def csv_rows(part: EmailMessage) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(part.get_content())))


class HtmlTables(HTMLParser):
    """Tables (class, data-type, rows of cell texts), links (href, text) and every tag seen."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self.links: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None
        self._link: tuple[str, list[str]] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "table":
            self.tables.append({"class": attributes.get("class"), "type": attributes.get("data-type"), "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a":
            self._link = (attributes.get("href") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "a" and self._link is not None:
            self.links.append((self._link[0], "".join(self._link[1])))
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._link is not None:
            self._link[1].append(data)

    def table(self, css_class: str, event_type: str | None = None) -> list[list[str]]:
        [found] = [table for table in self.tables
                   if table["class"] == css_class and event_type in (None, table["type"])]
        return found["rows"]
