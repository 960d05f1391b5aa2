"""What the routing agent does with a batch of input messages, free of Faust and Kafka I/O:
validate, dead-letter, forward to the event ID's home partition, skip updates and duplicates,
evaluate every perspective and build the routed messages.

The agent (streams/app.py) sends the returned messages, waits for the broker to acknowledge them,
and only then records the event IDs as routed: a crash in between re-routes the batch (sinks are
idempotent per action and event ID) rather than losing it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

from aiokafka.partitioner import murmur2

from .avro_codec import AvroCodec, AvroDecodeError, RoutedActionEncoder, ads_event_record, ids_event_record
from .config import Settings
from .deadletter import STAGE_INPUT, bounded_payload, dead_letter_headers
from .events import (INVALID_AVRO, OVERSIZED, AdsEvent, IdsEvent, InputLimits, InvalidEvent,
                     ads_event_from_mapping, decode_json_object, ids_event_from_mapping)
from .metrics import RouterMetrics
from .routing import Route, Router

ADS = "ads"
IDS = "ids"


@dataclass(frozen=True, slots=True)
class InputMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None


@dataclass(slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


@dataclass(slots=True)
class BatchResult:
    outgoing: list[Outgoing] = field(default_factory=list)
    # (index of the input message, dedup key): written once the outgoing messages are acknowledged.
    routed: list[tuple[int, str]] = field(default_factory=list)


def home_partition(event_id: int, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives the key ``str(event_id)``."""
    return (murmur2(str(event_id).encode()) & 0x7FFFFFFF) % partitions


def event_key(event_id: int) -> bytes:
    """The message key producers should use on the input topics (``ads-actions publish`` does)."""
    return str(event_id).encode()


class TriggerProcessor:
    """One per input kind (ADS or IDS); holds everything compiled from the configuration."""

    def __init__(self, settings: Settings, router: Router, metrics: RouterMetrics, kind: str,
                 clock: Callable[[], float] = time.time):
        self.kind = kind
        self.router = router
        self.metrics = metrics
        self.clock = clock
        self.partitions = settings.kafka.partitions
        self.retention = settings.input.dedup_retention
        self.dead_letter_topic = settings.topics.dead_letter
        self.by_id_topic = settings.topics.events_by_id if kind == ADS else settings.topics.ids_events_by_id
        self.limits = InputLimits.from_settings(settings.input)
        self.encoder = RoutedActionEncoder()
        self._from_mapping = ads_event_from_mapping if kind == ADS else ids_event_from_mapping
        self._to_record = ads_event_record if kind == ADS else ids_event_record
        # The by-ID topic is internal, so it always carries the validated event as Avro.
        self._internal = AvroCodec("ads_actions.AdsEvent" if kind == ADS else "ads_actions.IdsEvent")
        self._input_is_avro = settings.input.format == "avro"
        self._route_cache: dict[tuple, tuple[tuple[tuple, ...], tuple[tuple[Route, tuple], ...]]] = {}

    def parse(self, data: bytes | None, topic: str) -> AdsEvent | IdsEvent:
        if data is None:
            raise InvalidEvent("undecodable", "expected a message value, found a null (tombstone) value")
        if not self._input_is_avro and topic != self.by_id_topic:
            return self._from_mapping(decode_json_object(data, self.limits), self.limits)
        if len(data) > self.limits.max_message_bytes:
            raise InvalidEvent(OVERSIZED, f"message of {len(data)} bytes exceeds the limit of "
                                          f"{self.limits.max_message_bytes} bytes (input.max_message_bytes)")
        try:
            record = self._internal.decode(data)
        except AvroDecodeError as exc:
            raise InvalidEvent(INVALID_AVRO, str(exc)) from None
        return self._from_mapping(record, self.limits)

    def process(self, messages: Sequence[InputMessage], routed_ids: Mapping[str, float]) -> BatchResult:
        """``routed_ids``: dedup key -> time first routed (the Faust table's store, or a dict in tests)."""
        result = BatchResult()
        now = self.clock()
        routed_at = datetime.fromtimestamp(now, tz=timezone.utc)
        in_batch: set[str] = set()
        metrics = self.metrics
        counts: Counter[tuple] = Counter()  # metric increments, applied once per batch
        for index, message in enumerate(messages):
            counts[metrics.consumed, message.topic] += 1
            try:
                event = self.parse(message.value, message.topic)
            except InvalidEvent as invalid:
                self._dead_letter(result, message, invalid, routed_at)
                counts[metrics.dead_letters, invalid.reason] += 1
                continue
            if event.is_update:  # never acted on, wherever it arrived
                counts[metrics.skipped, "update"] += 1
                continue
            if message.topic != self.by_id_topic:
                home = home_partition(event.id, self.partitions)
                if message.partition != home:
                    result.outgoing.append(Outgoing(self.by_id_topic, event_key(event.id),
                                                    self._internal.encode(self._to_record(event)), home))
                    counts[metrics.rehomed, message.topic] += 1
                    continue
            dedup_key = str(event.id)
            first_routed = routed_ids.get(dedup_key)
            if dedup_key in in_batch or (first_routed is not None and now - first_routed < self.retention):
                counts[metrics.skipped, "duplicate"] += 1
                continue
            in_batch.add(dedup_key)
            self._route(result, event, routed_at, counts)
            result.routed.append((index, dedup_key))
        metrics.increment(counts)
        return result

    def _route(self, result: BatchResult, event: AdsEvent | IdsEvent, routed_at: datetime,
               counts: Counter[tuple]) -> None:
        matched, routes = self._routes(event)
        counts.update(matched)
        if not routes:
            counts[self.metrics.unrouted,] += 1
            return
        body = self.encoder.event_body(event)
        for route, routed in routes:
            result.outgoing.append(Outgoing(route.topic, route.message_key(event),
                                            self.encoder.encode(route, routed_at, body)))
            counts[routed] += 1

    def _routes(self, event: AdsEvent | IdsEvent) -> tuple[tuple[tuple, ...], tuple[tuple[Route, tuple], ...]]:
        """(matched-metric keys, (route, routed-metric key) pairs) for the event. What routes an
        event gets depends only on its priority in each perspective and on whether it is an IDS
        event (Router.routes), a few dozen combinations: cached with their metric labels."""
        priorities = self.router.priorities(event)
        key = (type(event), *priorities.values())
        cached = self._route_cache.get(key)
        if cached is None:
            metrics = self.metrics
            matched = tuple((metrics.matched, perspective, priority.name if priority else "none")
                            for perspective, priority in priorities.items())
            routes = tuple((route, (metrics.routed, route.perspective, route.priority.name, route.action, route.kind))
                           for route in self.router.routes(event, priorities))
            cached = self._route_cache[key] = (matched, routes)
        return cached

    def _dead_letter(self, result: BatchResult, message: InputMessage, invalid: InvalidEvent,
                     now: datetime) -> None:
        payload, extra = bounded_payload(message.value or b"")
        headers = dead_letter_headers(reason=invalid.reason, detail=invalid.message, stage=STAGE_INPUT,
                                      topic=message.topic, partition=message.partition,
                                      offset=message.offset, now=now) + extra
        result.outgoing.append(Outgoing(self.dead_letter_topic, message.key, payload, None, headers))
