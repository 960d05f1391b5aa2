"""The event generator: deterministic, realistic (catalogue types and details, both address
families, both target forms) and holding exactly the announced share of each kind of event."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from streams.events import InputLimits, InvalidEvent, decode_json_object, looks_like_ids, parse_ads_json, \
    parse_ids_json
from streams.generator import CATALOGUE_MAC, MAX_TARGETS, ExpectedCounts, Kind, count_kinds, expected_counts, \
    generate, generate_events, load_catalogue

NOW = datetime(2025, 5, 14, 15, 10, 28, tzinfo=timezone.utc)
LIMITS = InputLimits()


@pytest.fixture(scope="module")
def events():
    return generate(2000, seed=7, now=NOW, malformed_ratio=0.01)


def objects(events, kind: Kind) -> list[dict]:
    return [orjson.loads(event.line) for event in events if event.kind == kind]


def addresses(record: dict) -> list[str]:
    targets = record["targets"]
    return targets if isinstance(targets, list) else [t.strip() for t in targets.split(",")]


def test_same_seed_and_time_give_the_same_bytes():
    assert generate_events(300, seed=3, now=NOW) == generate_events(300, seed=3, now=NOW)
    assert generate_events(300, seed=3, now=NOW) != generate_events(300, seed=4, now=NOW)


def test_kind_counts_are_the_announced_ones(events):
    assert count_kinds(events) == expected_counts(2000, malformed_ratio=0.01)
    assert expected_counts(1000) == ExpectedCounts(triggers=930, duplicates=20, updates=20, ids=20, malformed=10)


def test_ratios_that_leave_no_trigger_to_repeat_are_refused():
    with pytest.raises(ValueError):
        expected_counts(10, duplicate_ratio=0.5, update_ratio=0.5)


def test_every_catalogue_type_appears_once_before_any_repeats(events):
    types = [record["type"] for record in objects(events, Kind.TRIGGER)]
    catalogue = set(load_catalogue())
    assert set(types[:len(catalogue)]) == catalogue


def test_details_and_subtypes_come_from_the_catalogue(events):
    catalogue = load_catalogue()
    machine_readable = 0
    for record in objects(events, Kind.TRIGGER):
        entry = catalogue[record["type"]]
        detail = record["detail"]
        if record["mac"]:
            detail = detail.replace(record["mac"].upper(), CATALOGUE_MAC)
        assert detail in entry.human + entry.machine
        machine_readable += detail in entry.machine
        submethods = {m.group(1) for m in map(re.compile(r"Submethod:'([^']*)'").search, entry.machine) if m}
        assert record["subtype"] in (submethods or {""})
    assert machine_readable > 0


def test_sources_and_targets_of_both_address_families_and_both_target_forms(events):
    records = objects(events, Kind.TRIGGER)
    source_versions = {ipaddress.ip_address(r["source"]).version for r in records}
    target_versions = {ipaddress.ip_address(t).version for r in records for t in addresses(r)}
    assert source_versions == target_versions == {4, 6}
    assert {type(r["targets"]) for r in records} == {list, str}
    assert {len(addresses(r)) for r in records} == set(range(1, MAX_TARGETS + 1))


def test_priorities_sometimes_given_in_both_spellings(events):
    words = Counter(r.get("priority") or r.get("severity") or "" for r in objects(events, Kind.TRIGGER))
    assert words[""] > 0 and words["INFORMATION"] > 0 and words["INFORMATIONAL"] > 0


def test_optional_fields_sometimes_empty(events):
    records = objects(events, Kind.TRIGGER)
    for name in ("port", "protocol", "mac", "capturedSource", "userIdentity"):
        assert {bool(r[name]) for r in records} == {True, False}, name


def test_times_are_utc_seconds_just_before_now(events):
    for record in objects(events, Kind.TRIGGER):
        detected = datetime.strptime(record["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        assert NOW - timedelta(seconds=2000) <= detected <= NOW
        assert datetime.strptime(record["firstFlow"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc) < detected


def test_triggers_parse_with_new_ids_and_ids_events_parse_as_ids(events):
    new_ids = []
    for event in events:
        if event.kind == Kind.TRIGGER:
            parsed = parse_ads_json(event.line, LIMITS)
            assert not parsed.is_update
            new_ids.append(parsed.id)
        elif event.kind == Kind.IDS:
            assert looks_like_ids(decode_json_object(event.line, LIMITS))
            new_ids.append(parse_ids_json(event.line, LIMITS).id)
    assert len(new_ids) == len(set(new_ids))


def test_duplicates_and_updates_repeat_an_earlier_trigger(events):
    earlier_lines, earlier = set(), {}
    for event in events:
        if event.kind == Kind.TRIGGER:
            earlier_lines.add(event.line)
            parsed = parse_ads_json(event.line, LIMITS)
            earlier[parsed.id] = parsed
        elif event.kind == Kind.DUPLICATE:
            assert event.line in earlier_lines
        elif event.kind == Kind.UPDATE:
            update = parse_ads_json(event.line, LIMITS)
            trigger = earlier[update.id]
            assert update.is_update
            assert (update.source, update.type, update.subtype, update.data_feed, update.method_instance) == \
                   (trigger.source, trigger.type, trigger.subtype, trigger.data_feed, trigger.method_instance)


def test_malformed_lines_fail_parsing_for_their_stated_reason():
    events = generate(700, seed=1, now=NOW, malformed_ratio=0.02)
    malformed = [event for event in events if event.kind == Kind.MALFORMED]
    for event in malformed:
        with pytest.raises(InvalidEvent) as caught:
            parse_ads_json(event.line, LIMITS)
        assert caught.value.reason == event.reason
    assert {event.reason for event in malformed} == {
        "invalid_json", "wrong_type", "unknown_priority", "control_characters", "missing_field", "invalid_value",
        "undecodable"}
