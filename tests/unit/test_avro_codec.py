"""Avro: single-object encoding round trips, decode errors, the RoutedAction fast path (header
fields + union branch + event body) against plain fastavro, and the schema history rule."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import fastavro
import fastavro.schema
import fastavro.utils
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams import schemas
from streams.avro_codec import (HEADER_LENGTH, MAGIC, AvroCodec, AvroDecodeError, RoutedActionEncoder,
                                ads_event_from_record, ads_event_record, ids_event_from_record, ids_event_record)
from streams.config import ACTION_KINDS
from streams.events import (IdsEvent, InputLimits, ads_event_from_mapping, ids_event_from_mapping, parse_ads_json,
                            parse_ids_json)
from streams.priorities import Priority
from streams.routing import Route

from .event_strategies import valid_ads_objects, valid_ids_objects
from .test_events import SEED_ADS, SEED_IDS

LIMITS = InputLimits()
ROUTED_AT = datetime(2025, 5, 14, 15, 10, 29, 123000, tzinfo=timezone.utc)
ENCODER = RoutedActionEncoder()


def full_ads_event():
    """The seed example with every optional field set, so every field of the schema is exercised."""
    return parse_ads_json(orjson.dumps({
        **SEED_ADS, "severity": "informational", "port": [80, 443], "targets": ["10.20.20.20", "2001:db8::1"],
        "dataFeedId": 3, "methodInstance": "fast", "mac": "0C:70:00:00:00:00", "userIdentity": "alice",
        "flows": [{"srcPort": 1234, "proto": "TCP"}], "firstFlow": "2025-05-14 14:58:55.250",
    }), LIMITS)


def seed_ids_event():
    return parse_ids_json(orjson.dumps(SEED_IDS), LIMITS)


# --- single-object encoding ----------------------------------------------------------------------

def test_fingerprint_is_little_endian_crc_64_avro():
    # Avro specification test vector: the fingerprint of "null" is 7195948357588979594.
    assert schemas.fingerprint(fastavro.parse_schema("null")) == (7195948357588979594).to_bytes(8, "little")


@pytest.mark.parametrize("name", schemas.CURRENT_NAMES)
def test_messages_start_with_magic_and_the_current_schema_fingerprint(name):
    codec = AvroCodec(name)
    assert codec.prefix[:2] == MAGIC == b"\xc3\x01"
    assert len(codec.prefix) == HEADER_LENGTH == 10
    assert codec.prefix[2:] == schemas.fingerprint(fastavro.parse_schema(schemas.current_schema(name)))


def test_ads_event_round_trip():
    codec = AvroCodec("ads_actions.AdsEvent")
    event = full_ads_event()
    record = ads_event_record(event)
    data = codec.encode(record)
    assert data.startswith(codec.prefix)
    decoded = codec.decode(data)
    assert decoded == record
    assert decoded["timestamp"] == datetime(2025, 5, 14, 15, 10, 28, tzinfo=timezone.utc)
    assert decoded["firstFlow"] == datetime(2025, 5, 14, 14, 58, 55, 250000, tzinfo=timezone.utc)
    assert decoded["severity"] == "INFORMATION"
    assert decoded["port"] == "80, 443"
    # Avro input goes through the same validation as JSON and gives back the same event (the
    # MITRE tactics, flat in Avro and nested in JSON, were lost on this way).
    assert ads_event_from_mapping(decoded, LIMITS) == event
    assert event.mitre_attack[0]["techniques"] == [{"code": "T1570", "name": "Lateral Tool Transfer"}]


def test_ids_event_from_avro_equals_the_event_from_json():
    codec = AvroCodec("ads_actions.IdsEvent")
    event = seed_ids_event()
    assert ids_event_from_mapping(codec.decode(codec.encode(ids_event_record(event))), LIMITS) == event


def test_ids_event_round_trip():
    codec = AvroCodec("ads_actions.IdsEvent")
    record = ids_event_record(seed_ids_event())
    decoded = codec.decode(codec.encode(record))
    assert decoded == record
    assert (decoded["srcPort"], decoded["dstPort"], decoded["signatureId"]) == (65432, 53, 2027865)


def test_decode_refuses_what_is_not_single_object_encoding():
    codec = AvroCodec("ads_actions.AdsEvent")
    good = codec.encode(ads_event_record(full_ads_event()))
    cases = {
        "empty": b"",
        "short header": good[:HEADER_LENGTH - 1],
        "wrong magic": b"\xc3\x02" + good[2:],
        "json": orjson.dumps(SEED_ADS),
        "unknown fingerprint": MAGIC + b"\x00" * 8 + good[HEADER_LENGTH:],
        "truncated body": good[:-5],
        "trailing bytes": good + b"\x00",
        "header only": good[:HEADER_LENGTH],
    }
    messages = {}
    for name, data in cases.items():
        with pytest.raises(AvroDecodeError) as raised:
            codec.decode(data)
        messages[name] = str(raised.value)
    assert messages["empty"] == "expected Avro single-object encoding (C3 01 + fingerprint), found nothing"
    assert messages["unknown fingerprint"] == "unknown writer schema fingerprint 0000000000000000"
    assert messages["trailing bytes"] == "1 bytes left after the Avro record"
    assert messages["truncated body"].startswith("corrupt Avro body: ")


def test_a_message_of_another_record_type_is_refused_as_an_unknown_schema():
    # The fingerprint is in history/, but it is an IdsEvent's: no version of AdsEvent.
    ids_message = AvroCodec("ads_actions.IdsEvent").encode(ids_event_record(seed_ids_event()))
    with pytest.raises(AvroDecodeError, match="^unknown writer schema fingerprint "):
        AvroCodec("ads_actions.AdsEvent").decode(ids_message)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=200), name=st.sampled_from(schemas.CURRENT_NAMES))
def test_random_bodies_after_a_valid_header_only_raise_avro_decode_error(body, name):
    codec = AvroCodec(name)
    try:
        record = codec.decode(codec.prefix + body)
    except AvroDecodeError:
        return
    # Whatever decodes (by chance) is a complete record of the schema.
    assert set(record) == {field["name"] for field in schemas.current_schema(name)["fields"]}


# --- RoutedAction fast path ------------------------------------------------------------------------

def plain_routed_action(route: Route, event) -> bytes:
    """The RoutedAction as fastavro writes the whole record, union branch named explicitly."""
    is_ids = isinstance(event, IdsEvent)
    record = {
        "action": route.action, "kind": route.kind, "perspective": route.perspective,
        "perspectiveId": route.perspective_id, "priority": route.priority.name, "routedAt": ROUTED_AT,
        "event": ("ads_actions.IdsEvent", ids_event_record(event)) if is_ids
        else ("ads_actions.AdsEvent", ads_event_record(event)),
    }
    return AvroCodec("ads_actions.RoutedAction").encode(record)


def assert_fast_path_matches_fastavro(route: Route, event) -> None:
    fast = ENCODER.encode(route, ROUTED_AT, ENCODER.event_body(event))
    plain = plain_routed_action(route, event)
    assert fast == plain
    decoded = ENCODER.routed.decode(fast)
    assert decoded == ENCODER.routed.decode(plain)
    name, body = decoded["event"]
    assert name == ("ads_actions.IdsEvent" if isinstance(event, IdsEvent) else "ads_actions.AdsEvent")
    assert body["id"] == event.id
    assert (decoded["action"], decoded["kind"], decoded["perspectiveId"], decoded["priority"], decoded["routedAt"]) == (
        route.action, route.kind, route.perspective_id, route.priority.name, ROUTED_AT)


@pytest.mark.parametrize("kind", ACTION_KINDS)
@pytest.mark.parametrize("priority", list(Priority))
def test_routed_action_for_an_ads_event_equals_fastavro_encoding(kind, priority):
    assert_fast_path_matches_fastavro(Route(kind, f"ads.action.{kind}", f"{kind}-1", "security", 1, priority),
                                      full_ads_event())


def test_routed_action_for_an_ids_event_equals_fastavro_encoding():
    assert_fast_path_matches_fastavro(Route("script", "ads.action.script", "sms", "ops", 2**31 - 1, Priority.LOW),
                                      seed_ids_event())


def test_event_body_starts_with_the_union_branch_index():
    assert ENCODER.event_body(full_ads_event())[:1] == b"\x00"
    assert ENCODER.event_body(seed_ids_event())[:1] == b"\x02"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=st.one_of(valid_ads_objects, valid_ids_objects),
       kind=st.sampled_from(ACTION_KINDS), priority=st.sampled_from(list(Priority)),
       action=st.text(max_size=20), perspective_id=st.integers(0, 2**31 - 1))
def test_routed_action_fast_path_for_random_events(obj, kind, priority, action, perspective_id):
    limits = InputLimits(max_message_bytes=64 * 1024)
    event = (parse_ids_json if "srcIp" in obj else parse_ads_json)(orjson.dumps(obj), limits)
    assert_fast_path_matches_fastavro(Route(kind, "t", action, "p", perspective_id, priority), event)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(obj=st.one_of(valid_ads_objects, valid_ids_objects))
def test_sinks_read_back_the_event_the_router_wrote(obj):
    # Sinks rebuild events from routed messages without validating them again: the result must
    # be the event that was routed.
    limits = InputLimits(max_message_bytes=64 * 1024)
    is_ids = "srcIp" in obj
    event = (parse_ids_json if is_ids else parse_ads_json)(orjson.dumps(obj), limits)
    codec = AvroCodec("ads_actions.IdsEvent" if is_ids else "ads_actions.AdsEvent")
    record = codec.decode(codec.encode((ids_event_record if is_ids else ads_event_record)(event)))
    assert (ids_event_from_record if is_ids else ads_event_from_record)(record) == event


@pytest.mark.parametrize("priority", ["CRITICAL", "INFORMATIONAL", None])
def test_sinks_read_back_the_producers_priority(priority):
    obj = {"id": 7, "timestamp": "2025-05-14 15:10:28", "type": "DOS", "source": "10.1.1.1", "severity": priority}
    event = parse_ads_json(orjson.dumps(obj), InputLimits())
    codec = AvroCodec("ads_actions.AdsEvent")
    assert ads_event_from_record(codec.decode(codec.encode(ads_event_record(event)))) == event


# --- schema history ---------------------------------------------------------------------------------

def test_every_current_schema_is_recorded_in_history():
    # Changing a schema without recording it (history/<name>.<fingerprint>.avsc) would leave
    # messages that no later reader can resolve.
    recorded = {path.name for path in schemas.HISTORY_DIR.glob("*.avsc")}
    for name in schemas.CURRENT_NAMES:
        fingerprint = schemas.fingerprint(fastavro.parse_schema(schemas.current_schema(name))).hex()
        assert f"{name}.{fingerprint}.avsc" in recorded, f"record {name} as history/{name}.{fingerprint}.avsc"


def test_history_file_names_match_their_contents():
    paths = sorted(schemas.HISTORY_DIR.glob("*.avsc"))
    assert paths
    for path in paths:
        name, fingerprint = path.name.removesuffix(".avsc").rsplit(".", 1)
        parsed = fastavro.parse_schema(fastavro.schema.load_schema(path, _write_hint=False))
        assert parsed["name"] == name
        assert schemas.fingerprint(parsed).hex() == fingerprint
        assert bytes.fromhex(fingerprint) in schemas.historical_schemas()


@pytest.mark.parametrize("path", sorted(schemas.HISTORY_DIR.glob("*.avsc")), ids=lambda p: p.name)
def test_every_historical_schema_resolves_to_the_current_schema(path):
    writer = fastavro.parse_schema(fastavro.schema.load_schema(path, _write_hint=False))
    reader = AvroCodec(writer["name"])
    fingerprint = schemas.fingerprint(writer)
    for record in fastavro.utils.generate_many(writer, 20):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, writer, record)
        as_written = fastavro.schemaless_reader(io.BytesIO(buffer.getvalue()), writer, return_record_name=True)
        resolved = reader.decode(MAGIC + fingerprint + buffer.getvalue())
        # Fields the writer had keep their values; fields added since (also in nested records)
        # get their defaults.
        assert _written_part(resolved, as_written) == as_written


def _written_part(resolved, as_written):
    if isinstance(as_written, dict) and isinstance(resolved, dict):
        return {k: _written_part(resolved[k], v) for k, v in as_written.items() if k in resolved}
    if isinstance(as_written, tuple) and isinstance(resolved, tuple):  # a union branch: (name, record)
        return tuple(_written_part(r, w) for r, w in zip(resolved, as_written))
    if isinstance(as_written, list) and isinstance(resolved, list):
        return [_written_part(r, w) for r, w in zip(resolved, as_written)]
    return resolved


def test_enum_schemas_match_the_code():
    priority = json.loads((schemas.SCHEMA_DIR / "ads_actions.Priority.avsc").read_text())
    assert set(priority["symbols"]) == {p.name for p in Priority}
    kinds = next(f for f in schemas.current_schema("ads_actions.RoutedAction")["fields"] if f["name"] == "kind")
    assert tuple(kinds["type"]["symbols"]) == ACTION_KINDS
    # The fast path appends the event, so it has to stay the last field.
    assert schemas.current_schema("ads_actions.RoutedAction")["fields"][-1]["name"] == "event"
