"""Property tests: random bytes, random JSON and random values for every known field never make
the parsers raise anything but InvalidEvent, and whatever they accept is a valid, encodable event."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .event_strategies import (ads_objects, ids_objects, is_plain_address, json_values, valid_ads_objects,
                               valid_ids_objects)
from streams.avro_codec import RoutedActionEncoder
from streams.events import (REASONS, AdsEvent, IdsEvent, InputLimits, InvalidEvent, ads_event_from_mapping,
                            ids_event_from_mapping, parse_ads_json, parse_ids_json)

# Small limits so that the size checks are reached by generated input too.
LIMITS = InputLimits(max_message_bytes=4096, max_field_chars=64, max_targets=4, max_flows=3)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENCODER = RoutedActionEncoder()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _check_ads(event: AdsEvent) -> None:
    assert 0 <= event.id < 2**63
    assert re.fullmatch(r"[A-Z0-9_]{1,32}", event.type)
    assert is_plain_address(event.source) and str(event.source_ip) == event.source
    assert len(event.targets) <= LIMITS.max_targets
    assert all(is_plain_address(t) for t in event.targets)
    assert tuple(str(ip) for ip in event.target_ips) == event.targets
    for identifier in (event.subtype, event.protocol, event.ports, event.mac):
        assert not _CONTROL.search(identifier)
        assert len(identifier) <= LIMITS.max_field_chars
    assert len(event.flows) <= LIMITS.max_flows
    assert event.detected_at.tzinfo is not None


def _check_ids(event: IdsEvent) -> None:
    assert 0 <= event.id < 2**63
    assert is_plain_address(event.src_ip) and is_plain_address(event.dst_ip)
    assert all(p is None or 0 <= p <= 65535 for p in (event.src_port, event.dst_port))
    assert event.first_seen.tzinfo is not None and event.last_seen.tzinfo is not None


def _outcome(parse, data: bytes, check) -> None:
    try:
        event = parse(data, LIMITS)
    except InvalidEvent as invalid:
        assert invalid.reason in REASONS
        assert invalid.message and str(invalid) == invalid.message
        return
    check(event)
    # Whatever is accepted must also be routable: its Avro encoding must succeed, decode again, and
    # read back as Avro input give the same event (times at the millisecond precision of Avro).
    body = ENCODER.event_body(event)
    codec = ENCODER._events[type(event)]
    record = codec.decode(codec.prefix + body[1:])
    if isinstance(event, AdsEvent):
        expected = replace(event, detected_at=_ms(event.detected_at), first_flow=_ms(event.first_flow))
        assert ads_event_from_mapping(record, LIMITS) == expected
    else:
        expected = replace(event, first_seen=_ms(event.first_seen), last_seen=_ms(event.last_seen))
        assert ids_event_from_mapping(record, LIMITS) == expected


def _ms(moment):
    # Avro timestamp-millis keeps whole milliseconds of the UTC time.
    if moment is None:
        return None
    utc = moment.astimezone(timezone.utc)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


@pytest.mark.parametrize("parse, check", [(parse_ads_json, _check_ads), (parse_ids_json, _check_ids)])
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(parse, check, data):
    _outcome(parse, data, check)


@pytest.mark.parametrize("parse, check", [(parse_ads_json, _check_ads), (parse_ids_json, _check_ids)])
@FUZZ
@given(value=json_values)
def test_random_json_documents(parse, check, value):
    _outcome(parse, orjson.dumps(value), check)


@FUZZ
@given(obj=ads_objects)
def test_random_values_for_every_ads_field(obj):
    _outcome(parse_ads_json, orjson.dumps(obj), _check_ads)


@FUZZ
@given(obj=ids_objects)
def test_random_values_for_every_ids_field(obj):
    _outcome(parse_ids_json, orjson.dumps(obj), _check_ids)


@settings(FUZZ, max_examples=150)  # two parses per example
@given(obj=ads_objects, cut=st.integers(min_value=0, max_value=400))
def test_truncated_and_corrupted_json(obj, cut):
    data = orjson.dumps(obj)
    _outcome(parse_ads_json, data[:cut], _check_ads)
    _outcome(parse_ads_json, data[:cut] + b"\xff" + data[cut:], _check_ads)


@FUZZ
@given(obj=st.one_of(valid_ads_objects, valid_ids_objects))
def test_valid_events_are_accepted_and_encodable(obj):
    # The other properties hold vacuously for the "accepted" branch if nothing is ever accepted:
    # these objects are valid by construction and must all be accepted (with a large enough limit).
    limits = InputLimits(max_message_bytes=64 * 1024, max_field_chars=64, max_targets=4, max_flows=3)
    is_ids = "srcIp" in obj
    event = (parse_ids_json if is_ids else parse_ads_json)(orjson.dumps(obj), limits)
    (_check_ids if is_ids else _check_ads)(event)
    assert event.id == obj["id"]
    assert event.is_update is obj.get("update", False)
    _outcome(parse_ids_json if is_ids else parse_ads_json, orjson.dumps(obj), lambda e: None)
