"""Sending closed report periods, against a real SMTP server (aiosmtpd) with a controlled clock:
the cadence, the empty-report rules, retries while the server is down, dead letters for mails it
refuses, and a period marked sent before its entries are deleted."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry

from sinks.metrics import ReportMetrics, SinkMetrics
from sinks.reports.emitter import ReportEmitter
from sinks.reports.intake import ReportIntake
from sinks.reports.render import ReportTemplates, render_mails
from sinks.reports.store import ReportStore
from streams.broker import free_port
from streams.priorities import Priority
from tests.integration.smtp_server import running_smtp_server
from tests.unit.report_fixtures import Kafka, MemoryMarks, event, report_settings, routed_message, utc

NOON = utc("2026-11-22T12:00:00").timestamp()
ALL_PARTITIONS = {0, 1, 2, 3}


class Clock:
    def __init__(self, now: float):
        self.now = now
        self.sleeping = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Until the test has moved the clock past the wake-up time."""
        wake_up = self.now + seconds
        self.sleeping += 1
        try:
            while self.now < wake_up:
                await asyncio.sleep(0.005)
        finally:
            self.sleeping -= 1


class Reports:
    """A worker's report state: intake and emitter over one store, a dict for the table."""

    def __init__(self, settings, clock: Clock):
        self.settings = settings
        self.clock = clock
        self.kafka = Kafka()
        self.sent = MemoryMarks()
        self.store = ReportStore({}, settings)
        self.registry = CollectorRegistry()
        sink_metrics, metrics = SinkMetrics(self.registry), ReportMetrics(self.registry)
        templates = ReportTemplates.from_settings(settings)
        self.emitter = ReportEmitter(settings, self.store, self.sent, "ads.action.email",
                                     lambda content: render_mails(content, settings, templates), sink_metrics,
                                     metrics, self.kafka.write, self.kafka.send, clock, clock.sleep)
        self.intake = ReportIntake(settings, self.store, sink_metrics, metrics, self.kafka.write, self.kafka.send,
                                   self.emitter.is_closed, clock)
        self.offset = 0

    async def route(self, report: str, priority: Priority, *event_ids: int) -> None:
        messages = []
        for event_id in event_ids:
            routed_at = datetime.fromtimestamp(self.clock.now, timezone.utc)
            messages.append((routed_message(report, priority, event(event_id), routed_at, self.offset), lambda: None))
            self.offset += 1
        await self.intake.accept(messages)

    async def run_until(self, moment: float) -> None:
        """Tick every second of the controlled clock up to ``moment``, then let sends finish."""
        while self.clock.now < moment:
            self.clock.now += 1
            self.emitter.tick(ALL_PARTITIONS)
            await self.settle()
        await self.settle()

    async def settle(self) -> None:
        """Let every send in progress finish or wait for the clock (the SMTP server is in a thread)."""
        await asyncio.sleep(0)
        for _ in range(200):
            if len(self.emitter._sending) <= self.clock.sleeping:
                return
            await asyncio.sleep(0.01)

    def periods(self, outcome: str) -> float:
        return sum(self.registry.get_sample_value("ads_actions_report_periods_total",
                                                  {"action": a.name, "priority": p.name, "outcome": outcome}) or 0
                   for a in self.settings.actions.email for p in Priority)


def subjects(server) -> list[str]:
    return [mail.message["Subject"] for mail in server.mails]


def test_critical_events_of_a_few_seconds_go_in_one_mail_within_seconds():
    with running_smtp_server() as server:
        clock = Clock(NOON + 0.5)
        reports = Reports(report_settings(server.port, close_delay="1s"), clock)

        async def scenario():
            await reports.route("soc", Priority.CRITICAL, 1, 2)
            clock.now += 2
            await reports.route("soc", Priority.CRITICAL, 3)
            await reports.run_until(NOON + 5)
            assert server.mails == []  # the 5-second window is still open
            await reports.run_until(NOON + 7)

        asyncio.run(scenario())
        assert len(server.mails) == 1 and server.mails[0].recipients == ["soc@example.org"]
        body = server.mails[0].message.get_content()
        assert all(f"detail of {i}" in body for i in (1, 2, 3))
        # Sent, marked, and the period's entries deleted (tombstones in the changelog).
        assert len(reports.sent.marks) == 1 and reports.store.periods == {}
        assert reports.kafka.changelog[-1][1] is None


def test_an_hourly_period_is_sent_once_after_it_closes():
    with running_smtp_server() as server:
        clock = Clock(NOON + 100)
        reports = Reports(report_settings(server.port), clock)

        async def scenario():
            await reports.route("soc", Priority.HIGH, 1)
            clock.now = NOON + 1800
            await reports.route("soc", Priority.HIGH, 2)
            await reports.run_until(NOON + 3601)
            assert server.mails == []  # closed, but close_delay (2 s) not over yet
            await reports.run_until(NOON + 3700)

        asyncio.run(scenario())
        assert len(server.mails) == 1
        assert "detail of 1" in server.mails[0].message.get_content()
        assert "detail of 2" in server.mails[0].message.get_content()


def test_empty_daily_reports_are_sent_unless_do_not_send_empty_and_empty_hourly_ones_never():
    with running_smtp_server() as server:
        clock = Clock(utc("2026-11-23T23:59:00").timestamp())  # a Monday: no weekly period closes
        reports = Reports(report_settings(server.port), clock)
        asyncio.run(reports.run_until(utc("2026-11-24T00:01:00").timestamp()))
        # soc, daily and quiet all report LOW events (min_priority INFORMATION by default), and
        # only the daily period closed; quiet has do_not_send_empty, inactive is not sent at all.
        assert sorted(mail.recipients[0] for mail in server.mails) == ["noc@example.org", "soc@example.org"]
        assert reports.periods("sent") == 2


def test_an_empty_daily_report_is_not_sent_again_once_its_sent_mark_expired():
    with running_smtp_server() as server:
        clock = Clock(utc("2026-11-23T23:59:00").timestamp())
        reports = Reports(report_settings(server.port, dedup_retention="1h"), clock)

        async def scenario():
            await reports.run_until(utc("2026-11-24T01:01:00").timestamp())
            sent = len(server.mails)
            # What the worker's prune timer does once input.dedup_retention (1 h) has passed.
            reports.sent.marks.clear()
            await reports.run_until(utc("2026-11-24T01:30:00").timestamp())
            return sent

        assert asyncio.run(scenario()) == 2
        assert len(server.mails) == 2


def test_a_day_that_closed_before_the_worker_started_is_not_reported_empty():
    with running_smtp_server() as server:
        clock = Clock(utc("2026-11-23T00:00:30").timestamp())
        reports = Reports(report_settings(server.port), clock)
        asyncio.run(reports.run_until(utc("2026-11-23T00:02:00").timestamp()))
        assert server.mails == []


def test_mails_wait_for_a_mail_server_that_is_down_and_arrive_once_it_is_up():
    port = free_port()
    clock = Clock(NOON + 0.5)
    reports = Reports(report_settings(port, close_delay="1s"), clock)

    async def scenario(server_up):
        await reports.route("soc", Priority.CRITICAL, 1)
        await reports.run_until(NOON + 8)
        # Tried and failed; the retry waits (the controlled clock's sleep) while we start it.
        assert reports.registry.get_sample_value("ads_actions_delivery_failures_total", {
            "kind": "email", "action": "soc", "reason": "connection_failed"}) >= 1
        with running_smtp_server(port=port) as server:
            server_up.append(server)
            await reports.run_until(NOON + 60)
            return list(server.mails)

    mails = asyncio.run(scenario([]))
    assert len(mails) == 1
    assert reports.kafka.dead_letters == []
    assert reports.registry.get_sample_value("ads_actions_delivery_retries_total",
                                             {"kind": "email", "action": "soc"}) >= 1


def test_a_refused_mail_is_dead_lettered_with_the_server_reply_and_the_mail_itself():
    with running_smtp_server(refused_recipients={"soc@example.org"}) as server:
        clock = Clock(NOON + 0.5)
        reports = Reports(report_settings(server.port, close_delay="1s"), clock)

        async def scenario():
            await reports.route("soc", Priority.CRITICAL, 1)
            await reports.run_until(NOON + 10)

        asyncio.run(scenario())
        assert server.mails == []
        [dead] = reports.kafka.dead_letters
        headers = dict(dead.headers)
        assert headers["ads-dlq-reason"] == b"rejected" and b"550" in headers["ads-dlq-detail"]
        assert headers["ads-dlq-action"] == b"soc" and headers["ads-dlq-stage"] == b"delivery"
        assert b"detail of 1" in dead.value and b"Subject:" in dead.value
        assert reports.periods("dead_lettered") == 1 and len(reports.sent.marks) == 1


def test_a_mail_server_down_past_the_deadline_dead_letters_the_mails():
    clock = Clock(NOON + 0.5)
    reports = Reports(report_settings(free_port(), close_delay="1s"), clock)

    async def scenario():
        await reports.route("soc", Priority.CRITICAL, 1)
        await reports.run_until(NOON + 120)  # retry.deadline is 30 s

    asyncio.run(scenario())
    [dead] = reports.kafka.dead_letters
    assert dict(dead.headers)["ads-dlq-reason"] == b"connection_failed"
    assert reports.periods("dead_lettered") == 1
