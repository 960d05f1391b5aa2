"""The Faust application: routing agents for ADS and IDS triggers, their dedup tables, timers.

Built from the validated Settings by ``build_app`` (the configuration file is only known at run
time, so there is no module-level app). Sink agents on the per-action topics join this app in
later issues; they run in the same consumer group and scale the same way.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import faust
from faust.types import EventT, StreamT
from prometheus_client import REGISTRY, CollectorRegistry

from .config import Settings
from .metrics import RouterMetrics
from .routing import Router
from .triggers import ADS, IDS, InputMessage, TriggerProcessor

# How often expired dedup entries are dropped from the local store, and lag is sampled.
DEDUP_PRUNE_INTERVAL = 600.0
LAG_SAMPLE_INTERVAL = 5.0
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
        producer = app.producer
        async for events in stream.take_events(settings.worker.batch_size, settings.worker.batch_timeout):
            messages = [_input_message(event) for event in events]
            result = processor.process(messages, table)
            acknowledgements = [
                await producer.send(out.topic, out.key, out.value, out.partition, None, out.headers)
                for out in result.outgoing
            ]
            await asyncio.gather(*acknowledgements)
            now = clock()
            for index, key in result.routed:
                # What Table.__setitem__ does, with the changelog partition named explicitly: it
                # would take the stream's "current event", which take_events() does not set per
                # event (and which its buffering callback must keep seeing unchanged).
                table.data[key] = now
                table.send_changelog(messages[index].partition, key, now)
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


def _input_message(event: EventT) -> InputMessage:
    message = event.message
    return InputMessage(message.topic, message.partition, message.offset, message.key, message.value,
                        message.timestamp)
