"""The Faust application: routing agents for ADS and IDS triggers, sink agents on the action
topics, their tables, timers.

Built from the validated Settings by ``build_app`` (the configuration file is only known at run
time, so there is no module-level app). ``worker.roles`` chooses which agents a worker runs, so
routers and sinks can be scaled apart; workers of one ``kafka.app_id`` share the partitions.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import faust
from faust.types import StreamT
from prometheus_client import REGISTRY, CollectorRegistry

from sinks.metrics import SinkMetrics

from .agent_io import RAW_TOPIC, input_message
from .batch_sender import batch_sender
from .capture_agent.service import add_capture_service
from .config import Settings
from .faust_transport import App
from .marks import TableMarks, marks_table
from .metrics import RouterMetrics
from .report_agents import add_report_agents
from .routing import Router
from .sink_agents import add_sink_agents
from .triggers import ADS, IDS, TriggerProcessor

# How often expired dedup entries are dropped from the local store, and lag is sampled.
DEDUP_PRUNE_INTERVAL = 600.0
LAG_SAMPLE_INTERVAL = 5.0


def build_app(settings: Settings, *, registry: CollectorRegistry = REGISTRY,
              clock: Callable[[], float] = time.time) -> faust.App:
    kafka = settings.kafka
    app = App(
        kafka.app_id,
        fetch_max_wait_ms=int(kafka.fetch_max_wait * 1000),
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        store="memory://",  # tables live in Kafka changelogs and are recovered from them on start
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        broker_session_timeout=kafka.session_timeout,
        broker_heartbeat_interval=min(3.0, kafka.session_timeout / 3),
        consumer_auto_offset_reset="earliest",
        # A rebalance must not wait for deliveries in retry (minutes): their offsets stay
        # uncommitted and the partitions' next owner delivers them; what was delivered already is
        # in the delivered tables, so it is not delivered twice (docs/architecture.md).
        stream_wait_empty=False,
        datadir=settings.worker.data_dir,
        web_enabled=False,
        autodiscover=False,
    )
    metrics = RouterMetrics(registry)
    # Last offset processed per (topic, partition), for the lag gauge.
    last_offsets: dict[tuple[str, int], int] = {}
    tables: list[faust.Table] = []
    if "router" in settings.worker.roles:
        tables += _add_routing_agents(app, settings, metrics, last_offsets, clock)
    if "sinks" in settings.worker.roles:
        sink_metrics = SinkMetrics(registry)
        tables += add_sink_agents(app, settings, sink_metrics, last_offsets, clock)
        tables += add_report_agents(app, settings, sink_metrics, registry, last_offsets, clock)
        if any(action.active for action in settings.actions.capture):
            add_capture_service(app, settings, registry)

    @app.timer(DEDUP_PRUNE_INTERVAL)
    async def prune_dedup_tables() -> None:
        # Entries past the retention are ignored on lookup already; dropping them from the local
        # store bounds memory. The changelog's own retention drops them in Kafka.
        cutoff = clock() - settings.input.dedup_retention
        for table in tables:
            expired = [key for key, marked_at in list(table.data.items()) if marked_at < cutoff]
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


def _add_routing_agents(app: faust.App, settings: Settings, metrics: RouterMetrics,
                        last_offsets: dict[tuple[str, int], int], clock: Callable[[], float]) -> list[faust.Table]:
    kafka, topics = settings.kafka, settings.topics
    router = Router(settings)
    outputs = [app.topic(name, partitions=kafka.partitions, **RAW_TOPIC)
               for name in (topics.dead_letter, topics.events_by_id, topics.ids_events_by_id,
                            *topics.actions.model_dump().values())]

    async def run(stream: StreamT, processor: TriggerProcessor, table: faust.Table) -> None:
        # Created up front with the configured partition count; a producer's auto-create would
        # use the broker default and break co-partitioning.
        for topic in outputs:
            await topic.maybe_declare()
        async with batch_sender(settings) as send_all:
            routed = TableMarks(table, send_all)
            async for events in stream.take_events(settings.worker.batch_size, settings.worker.batch_timeout):
                messages = [input_message(event) for event in events]
                result = processor.process(messages, table.data)
                await send_all(result.outgoing)
                # Acknowledged: only now are the IDs marked as routed.
                now = clock()
                await routed.record([(key, messages[index].partition) for index, key in result.routed], now)
                for message in messages:
                    last_offsets[(message.topic, message.partition)] = message.offset
                    if message.timestamp:
                        metrics.latency.observe(max(0.0, now - message.timestamp))

    help = "event IDs already routed, with the time they were first routed"
    ads_table = marks_table(app, settings, "routed-ads-events", help)
    ids_table = marks_table(app, settings, "routed-ids-events", help)
    ads_processor = TriggerProcessor(settings, router, metrics, ADS, clock)
    ids_processor = TriggerProcessor(settings, router, metrics, IDS, clock)

    @app.agent(app.topic(topics.events, topics.events_by_id, partitions=kafka.partitions, **RAW_TOPIC),
               name="route-ads-triggers")
    async def route_ads_triggers(stream: StreamT) -> None:
        await run(stream, ads_processor, ads_table)

    @app.agent(app.topic(topics.ids_events, topics.ids_events_by_id, partitions=kafka.partitions, **RAW_TOPIC),
               name="route-ids-triggers")
    async def route_ids_triggers(stream: StreamT) -> None:
        await run(stream, ids_processor, ids_table)

    return [ads_table, ids_table]
