"""The second half of email reports: sending each period once, shortly after it closes.

A timer calls ``tick`` every second (not Faust's on_window_close, which a crash or a rebalance
loses). For every period of a partition this worker owns that ended ``email.close_delay`` ago and
is not marked sent, it renders the mails and sends them over one SMTP connection, trying again
with backoff while the server is down or answers 4xx, until the report's ``retry.deadline``; a
mail refused for good (5xx) goes to the dead-letter topic with the server's reply, and so do the
mails still unsent at the deadline. Then the period is marked sent in the ``report-sent`` table,
and only after that its entries are deleted: a crash in between sends it again (at least once;
a re-sent mail keeps its Message-ID), never loses it.

Daily and weekly summaries are sent even when empty, unless the report says do_not_send_empty;
a period without events has no entries, so those are found from the clock: the last closed one,
when it closed after this worker started (a new deployment does not mail "no events" for the
day before it existed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Awaitable, Callable, Protocol, Sequence

from aiokafka.partitioner import DefaultPartitioner

from streams.config import EmailAction, Settings
from streams.priorities import Priority
from streams.routing import report_message_key
from streams.triggers import InputMessage, Outgoing

from ..host import delivery_dead_letter
from ..metrics import ReportMetrics, SinkMetrics
from ..smtp_send import MailNotSent, SmtpConnection
from .content import ReportContent
from .periods import period_at, report_zone
from .store import ChangelogWrite, PeriodKey, ReportStore

log = logging.getLogger("ads_actions.reports")

KIND = "email"
# Priorities whose empty summaries are mailed: daily (LOW) and weekly (INFORMATION).
ALWAYS_SENT = (Priority.LOW, Priority.INFORMATION)
ONE_MS = timedelta(milliseconds=1)


class SentMarks(Protocol):
    """Periods sent, kept in Kafka (streams/marks.py TableMarks over the report-sent table)."""

    def marked_at(self, key: str) -> float | None: ...

    async def record(self, marks: Sequence[tuple[str, int]], now: float) -> None: ...


class ReportEmitter:
    def __init__(self, settings: Settings, store: ReportStore, sent: SentMarks, topic: str,
                 render: Callable[[ReportContent], list[EmailMessage]], sink_metrics: SinkMetrics,
                 metrics: ReportMetrics, write: Callable[[Sequence[ChangelogWrite]], Awaitable[None]],
                 send: Callable[[Sequence[Outgoing]], Awaitable[None]], clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        """``topic``: ads.action.email, whose partitions own the periods; ``render``: the mails of
        a period; ``write``: store changes to the changelog; ``send``: dead letters."""
        self.settings = settings
        self.store = store
        self.sent = sent
        self.topic = topic
        self.render = render
        self.sink_metrics = sink_metrics
        self.metrics = metrics
        self.write = write
        self.send = send
        self.clock = clock
        self.sleep = sleep
        self.started_at = clock()
        self.reports: dict[str, EmailAction] = {report.name: report for report in settings.actions.email}
        self._sending: dict[PeriodKey, asyncio.Task] = {}
        # Where the router's producer puts each (report, priority) of the always-sent summaries: the
        # owner of that partition sends their empty periods.
        partitions = list(range(settings.kafka.partitions))
        self._always_sent_partitions = {
            (report.name, priority): DefaultPartitioner()(report_message_key(report.name, priority), partitions,
                                                          partitions)
            for report in self.reports.values() if report.active and not report.do_not_send_empty
            for priority in ALWAYS_SENT if priority >= report.min_priority}

    def is_closed(self, key: PeriodKey) -> bool:
        """Being sent or sent: an event for this period goes to the next one instead."""
        return key in self._sending or self.sent.marked_at(key.name) is not None

    def tick(self, owned_partitions: set[int]) -> None:
        """Start sending every closed period of ``owned_partitions`` that is not sent yet; stop
        sending the periods of partitions this worker no longer owns (their new owner sends them)."""
        for key, task in list(self._sending.items()):
            if key.partition not in owned_partitions:
                task.cancel()
        self.store.rebuild()
        now = self.clock()
        closed_before = (now - self.settings.email.close_delay) * 1000
        open_events: dict[str, int] = {name: 0 for name in self.reports}
        for key in list(self.store.periods):
            if key.partition not in owned_partitions or key.report not in self.reports:
                continue
            if key.end_ms > closed_before:
                open_events[key.report] += self.store.event_count(key)
            elif key not in self._sending:
                self._start(key)
        for name, count in open_events.items():
            self.metrics.open_events.labels(name).set(count)
        for key in self._empty_periods_due(owned_partitions, now):
            self._start(key)

    async def stop(self) -> None:
        tasks = list(self._sending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _empty_periods_due(self, owned_partitions: set[int], now: float) -> list[PeriodKey]:
        due = []
        closed_at = datetime.fromtimestamp(now - self.settings.email.close_delay, timezone.utc)
        for (name, priority), partition in self._always_sent_partitions.items():
            if partition not in owned_partitions:
                continue
            zone = report_zone(self.reports[name], self.settings.email)
            current = period_at(closed_at, priority, zone, self.settings.email)
            last_closed = period_at(current.start - ONE_MS, priority, zone, self.settings.email)
            key = PeriodKey.of(partition, name, priority, last_closed)
            # Its sent mark is kept for input.dedup_retention only; after that, no longer due.
            closed_for = now - last_closed.end.timestamp()
            if (last_closed.end.timestamp() > self.started_at and closed_for < self.settings.input.dedup_retention
                    and key not in self.store.periods and not self.is_closed(key)):
                due.append(key)
        return due

    def _start(self, key: PeriodKey) -> None:
        task = asyncio.create_task(self._send_period(key), name=f"report {key.name}")
        self._sending[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: PeriodKey, task: asyncio.Task) -> None:
        if self._sending.get(key) is task:
            del self._sending[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("report period %s: %s", key.name, task.exception(), exc_info=task.exception())

    async def _send_period(self, key: PeriodKey) -> None:
        report = self.reports[key.report]
        if self.sent.marked_at(key.name) is not None:
            # Sent before a crash that came ahead of the deletion.
            await self.write(self.store.remove(key))
            return
        content = self.store.content(key, report, report_zone(report, self.settings.email))
        if content.total == 0 and not (key.priority in ALWAYS_SENT and not report.do_not_send_empty):
            outcome = "empty"
        else:
            outcome = await self._deliver(report, key, content, self.render(content))
        await self.sent.record([(key.name, key.partition)], self.clock())
        await self.write(self.store.remove(key))
        self.metrics.periods.labels(report.name, key.priority.name, outcome).inc()
        log.info("report %s, %s %s period from %s: %s (%d events)", report.name, key.priority.name,
                 content.period.cadence, content.period.start.isoformat(), outcome, content.total)

    async def _deliver(self, report: EmailAction, key: PeriodKey, content: ReportContent,
                       mails: list[EmailMessage]) -> str:
        """Send the mails; returns the period's outcome: sent, or dead_lettered when any mail was."""
        policy = report.retry
        first_try = self.clock()
        unsent = list(mails)
        attempt = 0
        outcome = "sent"
        while unsent:
            attempt += 1
            try:
                async with SmtpConnection(self.settings.smtp) as smtp:
                    while unsent:
                        try:
                            await smtp.send(unsent[0])
                        except MailNotSent as exc:
                            if not exc.permanent:
                                raise
                            # This mail is refused for good; the others may not be.
                            self.sink_metrics.failed.labels(KIND, report.name, exc.reason).inc()
                            await self._dead_letter(report, key, [unsent.pop(0)], exc, attempt)
                            outcome = "dead_lettered"
                            continue
                        unsent.pop(0)
                        self.metrics.mails.labels(report.name, report.format).inc()
                        self.sink_metrics.delivered.labels(KIND, report.name).inc()
            except MailNotSent as exc:
                self.sink_metrics.failed.labels(KIND, report.name, exc.reason).inc()
                backoff = policy.backoff(attempt)
                if exc.permanent or attempt >= policy.max_attempts or \
                        self.clock() + backoff - first_try > policy.deadline:
                    await self._dead_letter(report, key, unsent, exc, attempt)
                    return "dead_lettered"
                log.warning("report %s: %s; trying again in %.0f s", report.name, exc.detail, backoff)
                self.sink_metrics.retried.labels(KIND, report.name).inc()
                await self.sleep(backoff)
        now = self.clock()
        for event in content.events:
            self.sink_metrics.latency.labels(KIND, report.name, "detected").observe(
                max(0.0, now - event.detected_at.timestamp()))
        return outcome

    async def _dead_letter(self, report: EmailAction, key: PeriodKey, mails: Sequence[EmailMessage],
                           failure: MailNotSent, attempts: int) -> None:
        """The mail itself is the dead letter's payload: ``redrive`` sends it again as it is."""
        origin = InputMessage(self.topic, key.partition, -1, report_message_key(report.name, key.priority), None)
        await self.send([delivery_dead_letter(self.settings, origin, failure.reason, failure.detail, report.name,
                                              attempts, payload=mail.as_bytes()) for mail in mails])
        self.sink_metrics.dead_lettered.labels(KIND, report.name, failure.reason).inc(len(mails))

