"""Shared by the report state tests: a configuration, events, routed messages, and the stand-ins
for Kafka (a dict as the table, lists as the changelog and the dead-letter topic)."""

from __future__ import annotations

from datetime import datetime, timezone
from textwrap import dedent

import orjson

from streams.avro_codec import RoutedActionEncoder
from streams.config import Settings, parse_settings
from streams.events import AdsEvent, InputLimits, parse_ads_json
from streams.priorities import Priority
from streams.routing import Route
from streams.triggers import InputMessage

EMAIL_TOPIC = "ads.action.email"


def report_settings(smtp_port: int = 25, dedup_retention: str = "7d", **email: object) -> Settings:
    email_section = {"timezone": "UTC", "close_delay": "2s", **email}
    return parse_settings(dedent(f"""\
        kafka: {{partitions: 4}}
        input: {{dedup_retention: {dedup_retention}}}
        perspectives:
          security:
            id: 1
            rules:
              - {{types: [DOS, SCANS], priority: CRITICAL}}
        smtp: {{host: 127.0.0.1, port: {smtp_port}, timeout: 5s}}
        email: {orjson.dumps(email_section).decode()}
        actions:
          email:
            - {{name: soc, perspective: security, recipients: [soc@example.org], format: compact,
                retry: {{initial_backoff: 1s, max_backoff: 4s, deadline: 30s}}}}
            - {{name: daily, perspective: security, recipients: [noc@example.org], format: full}}
            - {{name: quiet, perspective: security, recipients: [noc@example.org], do_not_send_empty: true}}
            - {{name: inactive, perspective: security, recipients: [noc@example.org], active: false}}
    """))


def event(event_id: int, event_type: str = "DOS", source: str = "10.0.0.1") -> AdsEvent:
    return parse_ads_json(orjson.dumps({"id": event_id, "timestamp": "2026-11-22 10:00:00", "type": event_type,
                                        "source": source, "targets": ["192.168.0.9"],
                                        "detail": f"detail of {event_id}"}), InputLimits())


def routed_message(report: str, priority: Priority, ads_event: AdsEvent, routed_at: datetime, offset: int,
                   partition: int = 0) -> InputMessage:
    encoder = RoutedActionEncoder()
    route = Route("email", EMAIL_TOPIC, report, "security", 1, priority)
    value = encoder.encode(route, routed_at, encoder.event_body(ads_event))
    return InputMessage(EMAIL_TOPIC, partition, offset, route.message_key(ads_event), value)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


class Kafka:
    """What the report state writes: changelog records and dead letters, in order."""

    def __init__(self) -> None:
        self.changelog: list[tuple[str, bytes | None, int]] = []
        self.dead_letters: list = []

    async def write(self, writes) -> None:
        self.changelog.extend(writes)

    async def send(self, messages) -> None:
        self.dead_letters.extend(messages)


class MemoryMarks:
    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def marked_at(self, key: str) -> float | None:
        return self.marks.get(key)

    async def record(self, marks, now: float) -> None:
        for key, _ in marks:
            self.marks[key] = now
