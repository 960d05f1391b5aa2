"""The Faust application: routing agents for ADS and IDS triggers, their dedup tables, timers.

Built from the validated Settings by ``build_app`` (the configuration file is only known at run
time, so there is no module-level app). Sink agents on the per-action topics join this app in
later issues; they run in the same consumer group and scale the same way.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Sequence

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from faust.types import EventT, StreamT
from prometheus_client import REGISTRY, CollectorRegistry

from .config import Settings
from .metrics import RouterMetrics
from .routing import Router
from .triggers import ADS, IDS, InputMessage, Outgoing, TriggerProcessor

# How often expired dedup entries are dropped from the local store, and lag is sampled.
DEDUP_PRUNE_INTERVAL = 600.0
LAG_SAMPLE_INTERVAL = 5.0
# Record batch size of the routed messages: a batch of 1,000 events puts 50-100 KB in each
# partition, so one batch per partition; well under a broker's default message.max.bytes (1 MB).
PRODUCER_BATCH_BYTES = 256 * 1024
_RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def build_app(settings: Settings, *, registry: CollectorRegistry = REGISTRY,
              clock: Callable[[], float] = time.time) -> faust.App:
    kafka = settings.kafka
    app = faust.App(
        kafka.app_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        store="memory://",  # tables live in Kafka changelogs and are recovered from them on start
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        broker_session_timeout=kafka.session_timeout,
        broker_heartbeat_interval=min(3.0, kafka.session_timeout / 3),
        consumer_auto_offset_reset="earliest",
        datadir=settings.worker.data_dir,
        web_enabled=False,
        autodiscover=False,
    )
    metrics = RouterMetrics(registry)
    router = Router(settings)
    topics = settings.topics
    outputs = [app.topic(name, partitions=kafka.partitions, **_RAW)
               for name in (topics.dead_letter, topics.events_by_id, topics.ids_events_by_id,
                            *topics.actions.model_dump().values())]
    last_offsets: dict[Any, int] = {}

    def dedup_table(name: str) -> faust.Table:
        retention_ms = int(settings.input.dedup_retention * 1000)
        return app.Table(
            name, default=None, key_type=str, value_type=float, partitions=kafka.partitions,
            # Compact keeps one entry per event ID; delete drops those past the retention, so a
            # recovering worker reads at most a retention's worth of IDs.
            extra_topic_configs={"cleanup.policy": "compact,delete", "retention.ms": str(retention_ms)},
            help="event IDs already routed, with the time they were first routed",
        )

    async def declare_outputs() -> None:
        # Created up front with the configured partition count; a producer's auto-create would
        # use the broker default and break co-partitioning.
        for topic in outputs:
            await topic.maybe_declare()

    async def run(stream: StreamT, processor: TriggerProcessor, table: faust.Table) -> None:
        await declare_outputs()
        changelog = table.changelog_topic
        async with batch_sender(settings) as send_all:
            async for events in stream.take_events(settings.worker.batch_size, settings.worker.batch_timeout):
                messages = [_input_message(event) for event in events]
                result = processor.process(messages, table.data)
                await send_all(result.outgoing)
                # The routed messages are acknowledged: now mark their IDs as routed. What
                # Table.__setitem__ does, with the changelog partition named explicitly (it would
                # take the stream's "current event", which take_events() does not set per event)
                # and the changelog records sent as one batch instead of a send_soon() each;
                # awaited, so that no offset is committed before its marks are written.
                now = clock()
                marks = []
                for index, key in result.routed:
                    table.data[key] = now
                    marks.append(Outgoing(changelog.get_topic_name(), changelog.prepare_key(key, None)[0],
                                          changelog.prepare_value(now, None)[0], messages[index].partition))
                await send_all(marks)
                for message in messages:
                    last_offsets[(message.topic, message.partition)] = message.offset
                    if message.timestamp:
                        metrics.latency.observe(max(0.0, now - message.timestamp))

    ads_table = dedup_table("routed-ads-events")
    ids_table = dedup_table("routed-ids-events")
    ads_processor = TriggerProcessor(settings, router, metrics, ADS, clock)
    ids_processor = TriggerProcessor(settings, router, metrics, IDS, clock)

    @app.agent(app.topic(topics.events, topics.events_by_id, partitions=kafka.partitions, **_RAW),
               name="route-ads-triggers")
    async def route_ads_triggers(stream: StreamT) -> None:
        await run(stream, ads_processor, ads_table)

    @app.agent(app.topic(topics.ids_events, topics.ids_events_by_id, partitions=kafka.partitions, **_RAW),
               name="route-ids-triggers")
    async def route_ids_triggers(stream: StreamT) -> None:
        await run(stream, ids_processor, ids_table)

    @app.timer(DEDUP_PRUNE_INTERVAL)
    async def prune_dedup_tables() -> None:
        # Entries past the retention are ignored on lookup already; dropping them from the local
        # store bounds memory. The changelog's own retention drops them in Kafka.
        cutoff = clock() - settings.input.dedup_retention
        for table in (ads_table, ids_table):
            expired = [key for key, first_routed in list(table.data.items()) if first_routed < cutoff]
            for position, key in enumerate(expired):
                table.data.pop(key, None)
                if position % 10_000 == 0:
                    await asyncio.sleep(0)

    @app.timer(LAG_SAMPLE_INTERVAL)
    async def sample_consumer_lag() -> None:
        assigned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
        for topic, partition in set(last_offsets) - assigned:
            # Given away in a rebalance: its lag is now the new owner's to report.
            del last_offsets[(topic, partition)]
            metrics.forget(metrics.lag, topic, str(partition))
        for tp in app.consumer.assignment():
            highwater = app.consumer.highwater(tp)  # None until the fetcher has seen the partition
            if highwater is not None and (tp.topic, tp.partition) in last_offsets:
                lag = highwater - last_offsets[(tp.topic, tp.partition)] - 1
                metrics.child(metrics.lag, tp.topic, str(tp.partition)).set(max(0, lag))

    return app


@asynccontextmanager
async def batch_sender(settings: Settings) -> AsyncIterator[Callable[[Sequence[Outgoing]], Any]]:
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


def _input_message(event: EventT) -> InputMessage:
    message = event.message
    return InputMessage(message.topic, message.partition, message.offset, message.key, message.value,
                        message.timestamp)
