"""The stages in front of every action's pipeline, for one kind's topic (``ads.action.<kind>``):
decode the RoutedAction, find its action, mute, dedup per (action, event ID); and behind it:
record what was delivered, dead-letter what was given up, then acknowledge the input message.

Free of Faust: the agent (streams/app.py) gives it messages with their ack callbacks, a store of
delivered keys (a Faust table with a changelog), and a function that sends messages and waits for
the broker's acknowledgement. Nothing is acknowledged before what it settled is in Kafka, so a
crash re-reads it (at least once), and the delivered-keys table stops the re-read from being
delivered again (idempotent per action and event ID).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Awaitable, Callable, Mapping, Protocol, Sequence

from streams.avro_codec import AvroCodec, AvroDecodeError, ads_event_from_record, ids_event_from_record
from streams.config import Action, Settings
from streams.deadletter import (HEADER_ACTION, HEADER_ATTEMPTS, STAGE_DELIVERY, bounded_payload,
                                dead_letter_headers)
from streams.priorities import Priority
from streams.triggers import InputMessage, Outgoing

from .base import Delivery, Sink
from .metrics import SinkMetrics
from .mute import active_window
from .pipeline import ActionPipeline, Pending, Settled

log = logging.getLogger("ads_actions.sinks")

# Dead-letter reasons of messages that never reached a sink.
INVALID_ROUTED_MESSAGE = "invalid_routed_message"
UNKNOWN_ACTION = "unknown_action"
# Counted as muted under this window name: routed before the action was made inactive.
INACTIVE = "(inactive)"

Ack = Callable[[], object]


class DeliveredStore(Protocol):
    """Which (action, event) keys were delivered, and when; kept in Kafka so that a restart or a
    rebalance does not deliver twice (streams/marks.py)."""

    def marked_at(self, key: str) -> float | None: ...

    async def record(self, marks: Sequence[tuple[str, int]], now: float) -> None:
        """Remember (key, partition of its input message) pairs as delivered at ``now``."""


class SinkHost:
    def __init__(self, kind: str, settings: Settings, metrics: SinkMetrics, sinks: Mapping[str, Sink],
                 store: DeliveredStore, send: Callable[[Sequence[Outgoing]], Awaitable[None]],
                 clock: Callable[[], float] = time.time):
        self.kind = kind
        self.settings = settings
        self.metrics = metrics
        self.store = store
        self.send = send
        self.clock = clock
        self.actions: dict[str, Action] = {action.name: action for action in settings.actions.by_kind()[kind]}
        self.pipelines = {name: ActionPipeline(sink, sink.action.retry, metrics, self._settle, clock)
                          for name, sink in sinks.items()}
        self._in_progress: dict[str, Pending] = {}
        self._settling: list[Settled] = []
        self._settling_added = asyncio.Event()
        self._settler: asyncio.Task | None = None
        self._codec = AvroCodec("ads_actions.RoutedAction")

    async def start(self) -> None:
        self._settler = asyncio.create_task(self._settle_continuously(), name=f"settle-{self.kind}")
        for pipeline in self.pipelines.values():
            await pipeline.sink.start()
            pipeline.start()

    async def stop(self) -> None:
        for pipeline in self.pipelines.values():
            await pipeline.stop()
            await pipeline.sink.stop()
        if self._settler is not None:
            self._settler.cancel()
            await asyncio.gather(self._settler, return_exceptions=True)
        # What was delivered is marked before the worker goes: a restart must not deliver it again.
        await self._record_settled()

    @property
    def waiting(self) -> int:
        return sum(pipeline.waiting for pipeline in self.pipelines.values())

    async def accept(self, messages: Sequence[tuple[InputMessage, Ack]]) -> None:
        """Take a batch read from the topic: each message is queued for its action's pipeline, or
        settled at once (muted, already delivered, undeliverable)."""
        now = self.clock()
        now_utc = datetime.fromtimestamp(now, timezone.utc)
        dead_letters: list[tuple[Outgoing, Ack]] = []
        # (metric, *labels) -> count: one increment per label set and batch
        counts: Counter[tuple] = Counter()
        for message, ack in messages:
            try:
                delivery = decode_delivery(self._codec, message)
            except (AvroDecodeError, KeyError, TypeError, ValueError) as exc:
                counts[(self.metrics.dead_lettered, self.kind, "", INVALID_ROUTED_MESSAGE)] += 1
                dead_letters.append((delivery_dead_letter(self.settings, message, INVALID_ROUTED_MESSAGE, str(exc),
                                                          None, 0), ack))
                continue
            action = self.actions.get(delivery.action)
            if action is None:
                counts[(self.metrics.dead_lettered, self.kind, delivery.action, UNKNOWN_ACTION)] += 1
                dead_letters.append((delivery_dead_letter(
                    self.settings, message, UNKNOWN_ACTION, f"no {self.kind} action {delivery.action!r} in the configuration",
                    delivery.action, 0), ack))
                continue
            window = muted_by(self.settings, action, now_utc)
            if window is not None:
                counts[(self.metrics.muted, self.kind, action.name, window)] += 1
                ack()
                continue
            key = delivery.dedup_key
            delivered_at = self.store.marked_at(key)
            if delivered_at is not None and now - delivered_at < self.settings.input.dedup_retention:
                counts[(self.metrics.deduplicated, self.kind, action.name)] += 1
                ack()
                continue
            in_progress = self._in_progress.get(key)
            if in_progress is not None:
                # A re-read copy (after a rebalance or a replay): settled with the original.
                counts[(self.metrics.deduplicated, self.kind, action.name)] += 1
                in_progress.acks.append(ack)
                continue
            pending = self._in_progress[key] = Pending(delivery, [ack])
            self.pipelines[action.name].submit(pending)
        for (metric, *labels), count in counts.items():
            metric.labels(*labels).inc(count)
        if dead_letters:
            await self.send([outgoing for outgoing, _ in dead_letters])
            for _, ack in dead_letters:
                ack()

    def on_rebalance(self) -> int:
        """Drop the deliveries not being tried (their partitions may go to another worker, which
        re-reads them from the last committed offset); returns how many."""
        dropped = [pending for pipeline in self.pipelines.values() for pending in pipeline.drop_waiting()]
        for pending in dropped:
            self._in_progress.pop(pending.delivery.dedup_key, None)
        return len(dropped)

    async def _settle(self, settled: Sequence[Settled]) -> None:
        """Called by the pipelines' workers: queued for the settler task, so that a worker goes on
        delivering while the broker acknowledges what it finished (a round trip per batch)."""
        self._settling.extend(settled)
        self._settling_added.set()

    async def _settle_continuously(self) -> None:
        while True:
            await self._settling_added.wait()
            self._settling_added.clear()
            await self._record_settled()

    async def _record_settled(self) -> None:
        settled, self._settling = self._settling, []
        if not settled:
            return
        now = self.clock()
        marks = [(pending.delivery.dedup_key, pending.delivery.partition)
                 for pending, failure in settled if failure is None]
        dead_letters = [delivery_dead_letter(self.settings, _as_message(pending.delivery), failure.reason,
                                             failure.detail, pending.delivery.action, pending.attempts)
                        for pending, failure in settled if failure is not None]
        for pending, failure in settled:
            if failure is not None:
                self.metrics.dead_lettered.labels(self.kind, pending.delivery.action, failure.reason).inc()
        if dead_letters:
            await self.send(dead_letters)
        if marks:
            await self.store.record(marks, now)
        for pending, _ in settled:
            self._in_progress.pop(pending.delivery.dedup_key, None)
            for ack in pending.acks:
                ack()

def _as_message(delivery: Delivery) -> InputMessage:
    return InputMessage(delivery.topic, delivery.partition, delivery.offset, delivery.key, delivery.value)


def muted_by(settings: Settings, action: Action, now: datetime) -> str | None:
    """The mute window ``action`` is in at ``now``, INACTIVE if it was made inactive since routing,
    or None: it fires."""
    return INACTIVE if not action.active else active_window(settings.mute_windows, action.mute, now)


def decode_delivery(codec: AvroCodec, message: InputMessage) -> Delivery:
    """A RoutedAction message as a Delivery; raises AvroDecodeError, KeyError, TypeError or
    ValueError for a message that is not one."""
    record = codec.decode(message.value or b"")
    family, event_record = record["event"]
    event = (ads_event_from_record(event_record) if family == "ads_actions.AdsEvent"
             else ids_event_from_record(event_record))
    return Delivery(action=record["action"], kind=record["kind"], perspective=record["perspective"],
                    perspective_id=record["perspectiveId"], priority=Priority[record["priority"]],
                    routed_at=record["routedAt"], event=event, topic=message.topic,
                    partition=message.partition, offset=message.offset, key=message.key,
                    value=message.value or b"")


def delivery_dead_letter(settings: Settings, message: InputMessage, reason: str, detail: str, action: str | None,
                         attempts: int, payload: bytes | None = None) -> Outgoing:
    """A dead letter of the delivery stage: by default the routed message itself, so that
    ``redrive`` can produce it back to the partition it came from (with its original key)."""
    body, truncated = bounded_payload((message.value or b"") if payload is None else payload)
    headers = dead_letter_headers(reason=reason, detail=detail, stage=STAGE_DELIVERY, topic=message.topic,
                                  partition=message.partition, offset=message.offset)
    headers += [(HEADER_ACTION, (action or "").encode()), (HEADER_ATTEMPTS, str(attempts).encode())]
    return Outgoing(settings.topics.dead_letter, message.key, body, None, headers + truncated)
