"""Sink agents: one Faust agent per action kind that has a sink, on its ``ads.action.<kind>``
topic, separate from the routing agents so that sink workers scale apart from routers.

Each agent reads batches, hands them to a SinkHost (sinks/host.py) and acknowledges every message
only once its delivery is settled, possibly long after the batch (retries). Faust's take_events()
acknowledges a batch when the next one is requested, so every message gets one extra reference
here, released by the host: Faust commits an offset only when all earlier ones are acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import faust
from faust.types import StreamT

from sinks.host import SinkHost
from sinks.metrics import SinkMetrics
from sinks.registry import SINK_CLASSES

from .agent_io import RAW_TOPIC, input_message
from .batch_sender import batch_sender
from .config import Settings
from .marks import TableMarks, marks_table

log = logging.getLogger("ads_actions.sinks")

# How often a paused agent looks again whether its pipelines have room.
ROOM_POLL_INTERVAL = 0.05


class _RebalanceSensor(faust.Sensor):
    """Faust calls on_rebalance_start synchronously when partitions are about to be revoked."""

    def __init__(self, hosts: list[SinkHost]):
        super().__init__()
        self.hosts = hosts

    def on_rebalance_start(self, app: faust.App) -> dict:
        for host in self.hosts:
            dropped = host.on_rebalance()
            if dropped:
                log.info("%s sink: rebalance, %d waiting deliveries left to the partitions' next owner",
                         host.kind, dropped)
        return super().on_rebalance_start(app)


def add_sink_agents(app: faust.App, settings: Settings, metrics: SinkMetrics,
                    last_offsets: dict[tuple[str, int], int], clock: Callable[[], float]) -> list[faust.Table]:
    hosts: list[SinkHost] = []
    app.sensors.add(_RebalanceSensor(hosts))
    tables = []
    for kind, sink_class in SINK_CLASSES.items():
        actions = settings.actions.by_kind()[kind]
        if not actions:
            continue
        table = marks_table(app, settings, f"delivered-{kind}",
                            f"{kind} deliveries done, by action|event, with the time they were delivered")
        tables.append(table)
        sinks = {action.name: sink_class(action, settings, metrics) for action in actions if action.active}
        _add_sink_agent(app, settings, kind, sinks, table, metrics, hosts, last_offsets, clock)
    return tables


def _add_sink_agent(app: faust.App, settings: Settings, kind: str, sinks: dict, table: faust.Table,
                    metrics: SinkMetrics, hosts: list[SinkHost], last_offsets: dict[tuple[str, int], int],
                    clock: Callable[[], float]) -> None:
    topic = app.topic(getattr(settings.topics.actions, kind), partitions=settings.kafka.partitions, **RAW_TOPIC)
    worker = settings.worker

    @app.agent(topic, name=f"deliver-{kind}")
    async def deliver(stream: StreamT) -> None:
        async with batch_sender(settings) as send_all:
            host = SinkHost(kind, settings, metrics, sinks, TableMarks(table, send_all), send_all, clock)
            await host.start()
            hosts.append(host)
            try:
                async for events in stream.take_events(worker.batch_size, worker.batch_timeout):
                    for event in events:
                        event.message.incref()  # released by the host once the delivery is settled
                        last_offsets[(event.message.topic, event.message.partition)] = event.message.offset
                    await host.accept([(input_message(event), event.ack) for event in events])
                    while host.waiting > worker.max_waiting_deliveries:
                        await asyncio.sleep(ROOM_POLL_INTERVAL)
            finally:
                hosts.remove(host)
                await host.stop()
