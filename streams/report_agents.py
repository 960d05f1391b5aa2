"""Email reports on Faust: the agent that adds routed events to report periods, the timer that
sends closed periods, and their two tables (design in docs/architecture.md, "Email reports").

- ``report-periods``: the open periods (sinks/reports/store.py), compacted; a sent period's
  entries are deleted by tombstones.
- ``report-sent``: the periods sent, by name, with the time (streams/marks.py), kept for
  input.dedup_retention: a replayed event of a sent period goes to the next one instead.

Both are written in the changelog partition of the ``ads.action.email`` partition the events came
from; the worker that owns that partition owns the periods, and the timer sends only those.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import faust
from faust.types import StreamT
from prometheus_client import CollectorRegistry

from sinks.metrics import ReportMetrics, SinkMetrics
from sinks.reports.emitter import ReportEmitter
from sinks.reports.intake import ReportIntake
from sinks.reports.render import ReportTemplates, render_mails
from sinks.reports.store import ChangelogWrite, ReportStore

from .agent_io import RAW_TOPIC, input_message
from .batch_sender import SendAll, batch_sender
from .config import Settings
from .marks import TableMarks, marks_table
from .triggers import Outgoing

# How often closed periods are looked for: "immediately" is within a second of close_delay.
REPORT_TICK_INTERVAL = 1.0


class _Reports:
    """The intake and the emitter of one worker, created when the agent starts: they need the
    tables' data and the agent's producer."""

    def __init__(self) -> None:
        self.intake: ReportIntake | None = None
        self.emitter: ReportEmitter | None = None


def add_report_agents(app: faust.App, settings: Settings, sink_metrics: SinkMetrics, registry: CollectorRegistry,
                      last_offsets: dict[tuple[str, int], int], clock: Callable[[], float]) -> list[faust.Table]:
    """Returns the tables whose values are mark times (for the worker's prune timer)."""
    if not settings.actions.email:
        return []
    topic_name = settings.topics.actions.email
    topic = app.topic(topic_name, partitions=settings.kafka.partitions, **RAW_TOPIC)
    periods_table = app.Table("report-periods", default=None, key_type=str, value_type=bytes,  # bytes: raw
                              partitions=settings.kafka.partitions,
                              help="Open email report periods: events listed, counts per group and type")
    sent_table = marks_table(app, settings, "report-sent", "Email report periods sent, with the time")
    metrics = ReportMetrics(registry)
    render = functools.partial(render_mails, settings=settings, templates=ReportTemplates.from_settings(settings))
    reports = _Reports()

    @app.agent(topic, name="gather-reports")
    async def gather(stream: StreamT) -> None:
        async with batch_sender(settings) as send_all:
            store = ReportStore(periods_table.data, settings)
            write = _changelog_writer(periods_table, send_all)
            emitter = ReportEmitter(settings, store, TableMarks(sent_table, send_all), topic_name, render,
                                    sink_metrics, metrics, write, send_all, clock)
            reports.emitter = emitter
            reports.intake = ReportIntake(settings, store, sink_metrics, metrics, write, send_all,
                                          emitter.is_closed, clock)
            try:
                async for events in stream.take_events(settings.worker.batch_size, settings.worker.batch_timeout):
                    for event in events:
                        last_offsets[(event.message.topic, event.message.partition)] = event.message.offset
                    await reports.intake.accept([(input_message(event), event.ack) for event in events])
            finally:
                reports.intake = reports.emitter = None
                await emitter.stop()

    @app.timer(REPORT_TICK_INTERVAL)
    async def send_closed_periods() -> None:
        if reports.emitter is None:
            return
        if app.rebalancing or app.in_recovery:
            # The tables may be half recovered, and the partitions about to move: send nothing.
            owned: set[int] = set()
        else:
            owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name}
        reports.emitter.tick(owned)

    return [sent_table]


def _changelog_writer(table: faust.Table, send_all: SendAll):
    changelog = table.changelog_topic

    async def write(writes: Sequence[ChangelogWrite]) -> None:
        topic = changelog.get_topic_name()
        await send_all([Outgoing(topic, changelog.prepare_key(key, None)[0], value, partition)
                        for key, value, partition in writes])

    return write
