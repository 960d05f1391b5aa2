"""Sending many messages at once through an aiokafka producer of the agent's own, and waiting
for the broker's acknowledgement of every one (the router's routed messages, everybody's dedup
marks, the sinks' dead letters)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from .config import Settings
from .triggers import Outgoing

# Record batch size: a batch of 1,000 routed events puts 50-100 KB in each partition, so one
# batch per partition; well under a broker's default message.max.bytes (1 MB).
PRODUCER_BATCH_BYTES = 256 * 1024

SendAll = Callable[[Sequence[Outgoing]], Any]


@asynccontextmanager
async def batch_sender(settings: Settings) -> AsyncIterator[SendAll]:
    """``send_all(messages)``: sends them as one record batch per partition and returns once the
    broker acknowledged every one. Faust's per-message send() costs a coroutine, a future and a
    signal per message, and its send_soon() buffer flushes every 100 messages: with three messages
    per event (two routed, one dedup mark) that was over a third of the worker's CPU
    (docs/benchmarks.md)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all",
        max_batch_size=PRODUCER_BATCH_BYTES, linger_ms=0)
    # Kafka's default partitioner (murmur2 of the key), as Faust's own producer uses.
    partitioner = DefaultPartitioner()
    await producer.start()

    async def send_all(messages: Sequence[Outgoing]) -> None:
        if not messages:
            return
        partitions = {topic: sorted(await producer.partitions_for(topic)) for topic in {m.topic for m in messages}}
        batches: dict[tuple[str, int], list[Any]] = {}
        for message in messages:
            partition = message.partition
            if partition is None:
                partition = partitioner(message.key, partitions[message.topic], partitions[message.topic])
            builders = batches.get((message.topic, partition))
            if builders is None:
                builders = batches[message.topic, partition] = [producer.create_batch()]
            # append() refuses a message once the batch holds max_batch_size bytes (an empty
            # batch takes any message).
            while builders[-1].append(key=message.key, value=message.value, timestamp=None,
                                      headers=message.headers or []) is None:
                builders.append(producer.create_batch())
        acknowledgements = [await producer.send_batch(builder, topic, partition=partition)
                            for (topic, partition), builders in batches.items() for builder in builders]
        await asyncio.gather(*acknowledgements)

    try:
        yield send_all
    finally:
        await producer.stop()
