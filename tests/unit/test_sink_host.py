"""The delivery stages around a sink, without Kafka: decode, mute, dedup per (action, event),
retry with backoff, dead letter, acknowledgements only after settling, metrics.

The sink here is an in-process recorder (these are unit tests of the pipeline's logic); every real
sink is tested against its real receiver in tests/integration.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from textwrap import dedent
from typing import Sequence

import orjson
import pytest
from prometheus_client import CollectorRegistry

from sinks.base import Delivery, DeliveryFailed, Outcome, Sink
from sinks.host import INVALID_ROUTED_MESSAGE, UNKNOWN_ACTION, SinkHost
from sinks.metrics import SinkMetrics
from streams.config import ScriptAction, SyslogAction, parse_settings
from streams.deadletter import headers_dict
from streams.avro_codec import RoutedActionEncoder
from streams.events import InputLimits, parse_ads_json
from streams.priorities import Priority
from streams.routing import Route
from streams.triggers import InputMessage, home_partition

CONFIG = dedent("""\
    kafka: {partitions: 4}
    mute_windows:
      always: {weekdays: [mon, tue, wed, thu, fri, sat, sun], start_time: "00:00", end_time: "00:00"}
    perspectives:
      security:
        id: 1
        rules:
          - {types: [DOS], priority: CRITICAL}
    actions:
      syslog:
        - {name: siem, perspective: security, retry: {max_attempts: 3, initial_backoff: 10ms, deadline: 1m}}
        - {name: other, perspective: security, retry: {max_attempts: 1}}
        - {name: muted, perspective: security, mute: [always]}
        - {name: inactive, perspective: security, active: false}
""")


class RecordingSink(Sink):
    """Fails the first ``failures`` tries of every event, then delivers; or hangs while ``hang``."""

    kind = "syslog"
    action_type = SyslogAction

    def __init__(self, action, settings, metrics, failures: int = 0, permanent: bool = False):
        super().__init__(action, settings, metrics)
        self.failures = failures
        self.permanent = permanent
        self.tries: dict[int, int] = {}
        self.delivered: list[int] = []
        self.hang = asyncio.Event()
        self.hang.set()

    async def deliver(self, batch: Sequence[Delivery]) -> list[Outcome]:
        await self.hang.wait()
        outcomes: list[Outcome] = []
        for delivery in batch:
            tries = self.tries[delivery.event.id] = self.tries.get(delivery.event.id, 0) + 1
            if tries <= self.failures:
                outcomes.append(DeliveryFailed("connection_refused", "nobody listens", permanent=self.permanent))
            else:
                self.delivered.append(delivery.event.id)
                outcomes.append(None)
        return outcomes


class MemoryStore:
    def __init__(self):
        self.marks: dict[str, float] = {}
        self.partitions: dict[str, int] = {}

    def marked_at(self, key: str) -> float | None:
        return self.marks.get(key)

    async def record(self, marks, now):
        for key, partition in marks:
            self.marks[key] = now
            self.partitions[key] = partition


class Harness:
    def __init__(self, **sink_options):
        self.settings = parse_settings(CONFIG)
        self.metrics = SinkMetrics(CollectorRegistry())
        actions = {a.name: a for a in self.settings.actions.syslog if a.active}
        self.sinks = {name: RecordingSink(action, self.settings, self.metrics, **sink_options.get(name, {}))
                      for name, action in actions.items()}
        self.store = MemoryStore()
        self.sent: list = []
        self.acked: list[int] = []
        self.host = SinkHost("syslog", self.settings, self.metrics, self.sinks, self.store, self._send)
        self.encoder = RoutedActionEncoder()

    async def _send(self, messages):
        self.sent.extend(messages)

    def routed(self, event_id: int, action: str = "siem", offset: int = 0) -> InputMessage:
        """A RoutedAction as the router writes it (inactive actions included: one routed before
        its action was made inactive)."""
        event = parse_ads_json(orjson.dumps({"id": event_id, "timestamp": "2025-05-14 15:10:28", "type": "DOS",
                                             "source": "10.1.1.1"}), InputLimits())
        route = Route("syslog", "ads.action.syslog", action, "security", 1, Priority.CRITICAL)
        value = self.encoder.encode(route, datetime.now(timezone.utc), self.encoder.event_body(event))
        key = route.message_key(event)
        return InputMessage("ads.action.syslog", home_partition(event_id, 4), offset, key, value)

    async def accept(self, *messages: InputMessage) -> None:
        await self.host.accept([(m, lambda m=m: self.acked.append(m.offset)) for m in messages])

    def count(self, metric, *labels) -> float:
        return metric.labels(*labels)._value.get()


async def settled(harness: Harness, offsets: int) -> None:
    while len(harness.acked) < offsets:
        await asyncio.sleep(0.005)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_delivery_is_marked_then_acknowledged_and_a_copy_is_not_delivered_again():
    async def scenario():
        h = Harness()
        await h.host.start()
        await h.accept(h.routed(7, offset=1))
        await settled(h, 1)
        assert h.sinks["siem"].delivered == [7]
        assert h.store.marks.keys() == {"siem|ads:7"}
        assert h.store.partitions["siem|ads:7"] == home_partition(7, 4)
        await h.accept(h.routed(7, offset=2))  # replayed after a restart
        await settled(h, 2)
        assert h.sinks["siem"].delivered == [7]
        assert h.count(h.metrics.deduplicated, "syslog", "siem") == 1
        assert h.count(h.metrics.delivered, "syslog", "siem") == 1
        await h.host.stop()
    run(scenario())


def test_failed_tries_are_retried_with_backoff_then_delivered():
    async def scenario():
        h = Harness(siem={"failures": 2})
        await h.host.start()
        await h.accept(h.routed(8))
        await settled(h, 1)
        assert h.sinks["siem"].tries == {8: 3} and h.sinks["siem"].delivered == [8]
        assert h.count(h.metrics.retried, "syslog", "siem") == 2
        assert h.count(h.metrics.failed, "syslog", "siem", "connection_refused") == 2
        assert h.sent == []  # nothing dead-lettered
        await h.host.stop()
    run(scenario())


def test_after_the_last_try_the_routed_message_is_dead_lettered_with_the_reason():
    async def scenario():
        h = Harness(siem={"failures": 99})
        await h.host.start()
        original = h.routed(9, offset=5)
        await h.accept(original)
        await settled(h, 1)
        [dead] = h.sent
        headers = headers_dict(dead.headers)
        assert (dead.value, dead.key) == (original.value, original.key)
        assert headers["ads-dlq-reason"] == "connection_refused"
        assert headers["ads-dlq-stage"] == "delivery"
        assert headers["ads-dlq-action"] == "siem"
        assert headers["ads-dlq-attempts"] == "3"
        assert (headers["ads-dlq-source-topic"], headers["ads-dlq-source-offset"]) == ("ads.action.syslog", "5")
        assert h.store.marks == {}  # a dead letter is not "delivered": a re-drive delivers it
        assert h.count(h.metrics.dead_lettered, "syslog", "siem", "connection_refused") == 1
        await h.host.stop()
    run(scenario())


def test_permanent_failure_is_not_retried():
    async def scenario():
        h = Harness(siem={"failures": 99, "permanent": True})
        await h.host.start()
        await h.accept(h.routed(10))
        await settled(h, 1)
        assert h.sinks["siem"].tries == {10: 1}
        assert headers_dict(h.sent[0].headers)["ads-dlq-attempts"] == "1"
        await h.host.stop()
    run(scenario())


def test_muted_and_inactive_actions_do_not_fire_and_are_counted():
    async def scenario():
        h = Harness()
        await h.host.start()
        await h.accept(h.routed(11, "muted", offset=1), h.routed(12, "inactive", offset=2))
        await settled(h, 2)
        assert all(not sink.delivered for sink in h.sinks.values())
        assert h.count(h.metrics.muted, "syslog", "muted", "always") == 1
        assert h.count(h.metrics.muted, "syslog", "inactive", "(inactive)") == 1
        await h.host.stop()
    run(scenario())


def test_undecodable_message_and_unknown_action_are_dead_lettered():
    async def scenario():
        h = Harness()
        await h.host.start()
        unknown = h.routed(13)
        settings = parse_settings(CONFIG.replace("{name: siem,", "{name: renamed,"))
        h.host.actions = {a.name: a for a in settings.actions.syslog}  # the action was renamed since routing
        await h.accept(InputMessage("ads.action.syslog", 0, 1, b"k", b"\x00garbage"), unknown)
        await settled(h, 2)
        reasons = sorted(headers_dict(m.headers)["ads-dlq-reason"] for m in h.sent)
        assert reasons == sorted([INVALID_ROUTED_MESSAGE, UNKNOWN_ACTION])
        assert h.count(h.metrics.dead_lettered, "syslog", "", INVALID_ROUTED_MESSAGE) == 1
        assert h.count(h.metrics.dead_lettered, "syslog", "siem", UNKNOWN_ACTION) == 1
        await h.host.stop()
    run(scenario())


def test_a_hanging_action_does_not_delay_another_action():
    async def scenario():
        h = Harness()
        h.sinks["siem"].hang.clear()
        await h.host.start()
        await h.accept(h.routed(14, "siem", offset=1), h.routed(14, "other", offset=2))
        await settled(h, 1)
        assert h.acked == [2] and h.sinks["other"].delivered == [14] and h.sinks["siem"].delivered == []
        h.sinks["siem"].hang.set()
        await settled(h, 2)
        assert h.sinks["siem"].delivered == [14]
        await h.host.stop()
    run(scenario())


def test_a_copy_read_while_the_original_is_in_progress_is_settled_with_it():
    async def scenario():
        h = Harness()
        h.sinks["siem"].hang.clear()
        await h.host.start()
        await h.accept(h.routed(15, offset=1))
        await h.accept(h.routed(15, offset=2))
        h.sinks["siem"].hang.set()
        await settled(h, 2)
        assert sorted(h.acked) == [1, 2] and h.sinks["siem"].delivered == [15]
        await h.host.stop()
    run(scenario())


def test_rebalance_drops_waiting_deliveries_without_acknowledging_them():
    async def scenario():
        h = Harness(siem={"failures": 99})
        h.settings = parse_settings(CONFIG.replace("initial_backoff: 10ms", "initial_backoff: 1h"))
        await h.host.start()
        h.host.pipelines["siem"].policy = h.settings.actions.syslog[0].retry
        await h.accept(h.routed(16, offset=1))
        while h.host.waiting == 0:  # first try failed, the next is an hour away
            await asyncio.sleep(0.005)
        assert h.host.on_rebalance() == 1
        assert h.acked == [] and h.sent == []
        assert h.host.waiting == 0
        await h.host.stop()
    run(scenario())


@pytest.mark.parametrize("attempt, expected", [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (30, 60.0)])
def test_backoff_doubles_up_to_its_maximum(attempt, expected):
    policy = parse_settings(CONFIG).actions.syslog[0].retry.model_copy(update={"initial_backoff": 1.0})
    assert policy.backoff(attempt) == expected


def test_a_sink_refuses_an_action_of_another_kind():
    settings = parse_settings(CONFIG)
    not_syslog = ScriptAction(name="x", perspective="security", script="x.sh")
    with pytest.raises(TypeError, match="RecordingSink needs a SyslogAction, got ScriptAction"):
        RecordingSink(not_syslog, settings, SinkMetrics(CollectorRegistry()))
