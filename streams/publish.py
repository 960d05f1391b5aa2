"""Publishing JSON-lines events to the input topics (``ads-actions publish``, the demo, benchmarks)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import orjson
from confluent_kafka import Producer

from .config import Settings
from .events import looks_like_ids
from .topics import ensure_topics
from .triggers import event_key


@dataclass
class PublishCounts:
    ads: int = 0
    ids: int = 0
    unparsed: int = 0


def producer_for(settings: Settings, **overrides: object) -> Producer:
    return Producer({
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        # Kafka's default (Java) partitioner, which the router's home-partition check assumes;
        # librdkafka's own default hashes differently.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "log_level": 0,
        **overrides,
    })


def produce_waiting(producer: Producer, topic: str, value: bytes, key: bytes | None, *,
                    partition: int | None = None, headers: list[tuple[str, bytes]] | None = None) -> None:
    """produce(), waiting for deliveries to drain while librdkafka's local queue is full."""
    extra = {"partition": partition} if partition is not None else {}
    while True:
        try:
            producer.produce(topic, value, key, headers=headers, **extra)
            return
        except BufferError:
            producer.poll(0.05)


def publish_lines(settings: Settings, lines: Iterable[bytes], *, rate: float | None = None,
                  on_sent: Callable[[], None] | None = None, producer: Producer | None = None) -> PublishCounts:
    """One event a line: IDS events to the IDS topic, everything else (even malformed lines, which
    the router then dead-letters) to the ADS topic, keyed by event ID when there is one."""
    ensure_topics(settings)
    producer = producer or producer_for(settings)
    counts = PublishCounts()
    started = time.monotonic()
    sent = 0
    for line in lines:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        topic, key = settings.topics.events, None
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            if looks_like_ids(obj):
                topic = settings.topics.ids_events
                counts.ids += 1
            else:
                counts.ads += 1
            if isinstance(obj.get("id"), int) and not isinstance(obj.get("id"), bool):
                key = event_key(obj["id"])
        else:
            counts.unparsed += 1
        produce_waiting(producer, topic, line, key)
        producer.poll(0)
        sent += 1
        if on_sent:
            on_sent()
        if rate:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    producer.flush(60)
    return counts
