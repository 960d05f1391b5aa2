"""The report periods' state (store and intake) without Kafka: bounded periods, counts per type
and source, replays applied once, late events moved to the next period, and the table rebuilt
from its entries alone (as after a changelog recovery)."""

from __future__ import annotations

import asyncio
import dataclasses

from prometheus_client import CollectorRegistry

from sinks.metrics import ReportMetrics, SinkMetrics
from sinks.reports.intake import ReportIntake
from sinks.reports.periods import period_at
from sinks.reports.store import PeriodKey, ReportStore
from streams.priorities import Priority
from tests.unit.report_fixtures import Kafka, event, report_settings, routed_message, utc

NOON = utc("2026-11-22T12:00:00")


def key_at(settings, report="soc", priority=Priority.HIGH, moment=NOON, partition=0) -> PeriodKey:
    return PeriodKey.of(partition, report, priority, period_at(moment, priority, "UTC", settings.email))


def test_a_period_lists_at_most_max_rows_events_and_counts_every_one():
    settings = report_settings(max_rows=3, max_groups=2)
    store = ReportStore({}, settings)
    key = key_at(settings)
    listed = [store.add(key, event(i, "DOS" if i % 2 else "SCANS", f"10.0.0.{i % 3}"))[1] for i in range(10)]
    assert listed == [True] * 3 + [False] * 7
    content = store.content(key, settings.actions.email[0], "UTC")
    assert [e.id for e in content.events] == [0, 1, 2]
    assert content.total == 10 and content.left_out == 7
    assert content.type_counts == {"SCANS": 5, "DOS": 5}
    # Two (type, source) groups fit; the events of the others are counted per type only.
    assert len(content.groups) == 2 and content.ungrouped == 10 - sum(g.count for g in content.groups)
    assert store.event_count(key) == 10


def test_an_event_already_listed_is_not_counted_again():
    settings = report_settings()
    store = ReportStore({}, settings)
    key = key_at(settings)
    assert store.add(key, event(7))[0]
    assert store.add(key, event(7)) == ([], False)
    assert store.content(key, settings.actions.email[0], "UTC").total == 1


def test_the_index_is_rebuilt_from_the_entries_alone_and_removal_leaves_nothing():
    settings = report_settings()
    data: dict = {}
    store = ReportStore(data, settings)
    high, low = key_at(settings), key_at(settings, priority=Priority.LOW, partition=3)
    for i in range(5):
        store.add(high, event(i))
    store.add(low, event(99, "SCANS"))
    recovered = ReportStore(dict(data), settings)  # a worker that recovered the changelog
    assert set(recovered.periods) == {high, low}
    assert recovered.periods[high].listed == 5
    assert recovered.content(high, settings.actions.email[0], "UTC") == store.content(high, settings.actions.email[0],
                                                                                      "UTC")
    tombstones = store.remove(high)
    assert {value for _, value, _ in tombstones} == {None} and len(tombstones) == 5 + 1 + 1
    assert all(key.startswith(low.prefix) for key in data)


def intake_for(settings, store, kafka, closed=frozenset()):
    registry = CollectorRegistry()
    return ReportIntake(settings, store, SinkMetrics(registry), ReportMetrics(registry), kafka.write, kafka.send,
                        lambda key: key in closed, clock=lambda: NOON.timestamp()), registry


def accept(intake, messages) -> list[int]:
    acked: list[int] = []
    asyncio.run(intake.accept([(message, lambda o=message.offset: acked.append(o)) for message in messages]))
    return acked


def test_intake_adds_each_event_to_its_period_and_acknowledges_after_the_changelog_write():
    settings = report_settings()
    store, kafka = ReportStore({}, settings), Kafka()
    intake, registry = intake_for(settings, store, kafka)
    messages = [routed_message("soc", Priority.HIGH, event(i), NOON, offset=i) for i in range(3)]
    assert accept(intake, messages) == [0, 1, 2]
    assert store.content(key_at(settings), settings.actions.email[0], "UTC").total == 3
    assert ("W|0", b"2", 0) in kafka.changelog
    assert registry.get_sample_value("ads_actions_report_events_total", {"action": "soc", "priority": "HIGH"}) == 3


def test_a_replay_of_applied_offsets_is_not_counted_twice():
    settings = report_settings(max_rows=1)
    store, kafka = ReportStore({}, settings), Kafka()
    intake, registry = intake_for(settings, store, kafka)
    messages = [routed_message("soc", Priority.HIGH, event(i), NOON, offset=i) for i in range(4)]
    accept(intake, messages)
    accept(intake, messages[1:] + [routed_message("soc", Priority.HIGH, event(9), NOON, offset=4)])
    assert store.content(key_at(settings), settings.actions.email[0], "UTC").total == 5
    assert registry.get_sample_value("ads_actions_deliveries_deduplicated_total",
                                     {"kind": "email", "action": "soc"}) == 3


def test_an_event_for_a_period_being_sent_goes_to_the_next_period():
    settings = report_settings()
    store, kafka = ReportStore({}, settings), Kafka()
    closed = key_at(settings)
    intake, _ = intake_for(settings, store, kafka, closed={closed})
    accept(intake, [routed_message("soc", Priority.HIGH, event(1), NOON, offset=0)])
    assert list(store.periods) == [key_at(settings, moment=utc("2026-11-22T13:00:00"))]


def test_bad_messages_unknown_reports_and_inactive_reports_are_settled_without_stopping():
    settings = report_settings()
    store, kafka = ReportStore({}, settings), Kafka()
    intake, registry = intake_for(settings, store, kafka)
    good = routed_message("soc", Priority.HIGH, event(1), NOON, offset=3)
    messages = [dataclasses.replace(good, offset=0, value=b"\x00garbage"),
                routed_message("gone", Priority.HIGH, event(2), NOON, offset=1),
                routed_message("inactive", Priority.HIGH, event(3), NOON, offset=2), good]
    assert accept(intake, messages) == [0, 1, 2, 3]
    assert [dict(d.headers)["ads-dlq-reason"] for d in kafka.dead_letters] == [b"invalid_routed_message",
                                                                                b"unknown_action"]
    assert registry.get_sample_value("ads_actions_deliveries_muted_total",
                                     {"kind": "email", "action": "inactive", "window": "(inactive)"}) == 1
    assert [key.report for key in store.periods] == ["soc"]
