"""The first half of email reports: routed events into their report periods (sinks/reports/store.py).

For each batch read from ``ads.action.email``: decode, find the report, mute, skip what was
applied already, add each event to the period of its priority that contains its routing time --
or, when that period is being sent or was sent, to the next one -- then write the changes to the
changelog and, once the broker has them, acknowledge the messages. Sending is the emitter's.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from typing import Awaitable, Callable, Sequence

from streams.avro_codec import AvroCodec, AvroDecodeError
from streams.config import EmailAction, Settings
from streams.events import AdsEvent
from streams.triggers import InputMessage

from ..host import INVALID_ROUTED_MESSAGE, UNKNOWN_ACTION, Ack, decode_delivery, delivery_dead_letter, muted_by
from ..metrics import ReportMetrics, SinkMetrics
from .periods import next_period, period_at, report_zone
from .store import ChangelogWrite, PeriodKey, ReportStore

KIND = "email"
# A routed message that is not an ADS event (the router sends IDS events to scripts only).
NOT_AN_ADS_EVENT = "not_an_ads_event"


class ReportIntake:
    def __init__(self, settings: Settings, store: ReportStore, sink_metrics: SinkMetrics, metrics: ReportMetrics,
                 write: Callable[[Sequence[ChangelogWrite]], Awaitable[None]],
                 send: Callable[[Sequence], Awaitable[None]], is_closed: Callable[[PeriodKey], bool],
                 clock: Callable[[], float] = time.time):
        """``write`` puts store changes in the changelog and waits for the broker; ``send`` sends
        dead letters; ``is_closed`` says whether a period is being sent or was sent."""
        self.settings = settings
        self.store = store
        self.sink_metrics = sink_metrics
        self.metrics = metrics
        self.write = write
        self.send = send
        self.is_closed = is_closed
        self.clock = clock
        self.reports: dict[str, EmailAction] = {report.name: report for report in settings.actions.email}
        self._codec = AvroCodec("ads_actions.RoutedAction")

    async def accept(self, messages: Sequence[tuple[InputMessage, Ack]]) -> None:
        now_utc = datetime.fromtimestamp(self.clock(), timezone.utc)
        # key -> (value, partition): a counter incremented many times in a batch is written once.
        writes: dict[str, tuple[bytes | None, int]] = {}
        dead_letters = []
        counts: Counter[tuple] = Counter()
        applied: dict[int, int] = {}
        for message, _ in messages:
            last_applied = applied.get(message.partition, self.store.applied_offset(message.partition))
            replayed = message.offset <= last_applied
            applied[message.partition] = max(message.offset, last_applied)
            try:
                delivery = decode_delivery(self._codec, message)
            except (AvroDecodeError, KeyError, TypeError, ValueError) as exc:
                if not replayed:
                    counts[(self.sink_metrics.dead_lettered, KIND, "", INVALID_ROUTED_MESSAGE)] += 1
                    dead_letters.append(delivery_dead_letter(self.settings, message, INVALID_ROUTED_MESSAGE,
                                                             str(exc), None, 0))
                continue
            if replayed:
                # Applied before a crash that came ahead of the offset commit.
                counts[(self.sink_metrics.deduplicated, KIND, delivery.action)] += 1
                continue
            report = self.reports.get(delivery.action)
            if report is None or not isinstance(delivery.event, AdsEvent):
                reason, detail = ((UNKNOWN_ACTION, f"no email report {delivery.action!r} in the configuration")
                                  if report is None else (NOT_AN_ADS_EVENT, "email reports are made of ADS events"))
                counts[(self.sink_metrics.dead_lettered, KIND, delivery.action, reason)] += 1
                dead_letters.append(delivery_dead_letter(self.settings, message, reason, detail, delivery.action, 0))
                continue
            window = muted_by(self.settings, report, now_utc)
            if window is not None:
                counts[(self.sink_metrics.muted, KIND, report.name, window)] += 1
                continue
            zone = report_zone(report, self.settings.email)
            period = period_at(delivery.routed_at, delivery.priority, zone, self.settings.email)
            key = PeriodKey.of(delivery.partition, report.name, delivery.priority, period)
            while self.is_closed(key):
                period = next_period(period, delivery.priority, self.settings.email)
                key = PeriodKey.of(delivery.partition, report.name, delivery.priority, period)
            added, listed = self.store.add(key, delivery.event)
            if not added:
                counts[(self.sink_metrics.deduplicated, KIND, report.name)] += 1
                continue
            writes.update((key, (value, partition)) for key, value, partition in added)
            counts[(self.metrics.events, report.name, delivery.priority.name)] += 1
            if not listed:
                counts[(self.metrics.unlisted, report.name)] += 1
        for partition, offset in applied.items():
            key, value, _ = self.store.set_applied_offset(partition, offset)
            writes[key] = (value, partition)
        if dead_letters:
            await self.send(dead_letters)
        await self.write([(key, value, partition) for key, (value, partition) in writes.items()])
        for (metric, *labels), count in counts.items():
            metric.labels(*labels).inc(count)
        for _, ack in messages:
            ack()
