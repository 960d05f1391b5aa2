"""Keys marked with the time they were handled, in a Faust table backed by its changelog: the
router's "event ID already routed" and the sinks' "(action, event) already delivered".

Written the way Table.__setitem__ writes, with two differences: the changelog partition is named
explicitly (Faust would take it from the stream's "current event", which ``take_events`` does not
set per event, and which a delivery settled later no longer has), and the changelog records are
returned to be sent as one batch and awaited, so that no offset is committed before its marks are
in Kafka.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Sequence

import faust

from .config import Settings
from .triggers import Outgoing


class TableMarks:
    def __init__(self, table: faust.Table, send: Callable[[Sequence[Outgoing]], Awaitable[None]]):
        self.table = table
        self.send = send

    def marked_at(self, key: str) -> float | None:
        return self.table.data.get(key)

    async def record(self, marks: Sequence[tuple[str, int]], now: float) -> None:
        """Mark (key, partition of the input message it came from) pairs as handled at ``now``."""
        changelog = self.table.changelog_topic
        topic = changelog.get_topic_name()
        records = []
        for key, partition in marks:
            self.table.data[key] = now
            records.append(Outgoing(topic, changelog.prepare_key(key, None)[0],
                                    changelog.prepare_value(now, None)[0], partition))
        await self.send(records)


def marks_table(app: faust.App, settings: Settings, name: str, help: str) -> faust.Table:
    """A table of keys marked with a time (streams/marks.py), kept for input.dedup_retention."""
    retention_ms = int(settings.input.dedup_retention * 1000)
    return app.Table(
        name, default=None, key_type=str, value_type=float, partitions=settings.kafka.partitions,
        # Compact keeps one entry per key; delete drops those past the retention, so a recovering
        # worker reads at most a retention's worth of keys.
        extra_topic_configs={"cleanup.policy": "compact,delete", "retention.ms": str(retention_ms)},
        help=help,
    )
