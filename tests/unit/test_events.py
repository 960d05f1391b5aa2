"""Parsing ADS and IDS input: the seed's JSON examples, every accepted spelling of every field,
and the reason codes of malformed input."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone

import orjson
import pytest

from streams import events
from streams.events import (REASONS, AdsEvent, IdsEvent, InputLimits, InvalidEvent, ads_event_from_mapping,
                            ids_event_from_mapping, looks_like_ids, parse_ads_json, parse_ids_json)
from streams.priorities import Priority

LIMITS = InputLimits()
UTC = timezone.utc

# The ADS JSON example of the custom-scripts seed, verbatim.
SEED_ADS = {
    "id": 123456,
    "timestamp": "2025-05-14 15:10:28",
    "firstFlow": "2025-05-14 14:58:55",
    "type": "HIGHTRANSF",
    "typeDesc": "High volume of transferred data",
    "subtype": "General",
    "mitreAttack": [{"tactic": {"code": "TA0008", "name": "Lateral Movement",
                                "techniques": [{"code": "T1570", "name": "Lateral Tool Transfer"}]},
                     "version": 15}],
    "perspective": "",
    "severity": "",
    "detail": "Transferred: 213.93 MiB, top peer transfer: 179.49 MiB.",
    "port": "",
    "protocol": "",
    "source": "10.10.10.10",
    "capturedSource": "",
    "targets": "10.20.20.20",
    "netFlowSource": "Default",
    "userIdentity": "",
}

# The IDS JSON example of the same seed, verbatim.
SEED_IDS = {
    "id": 123456,
    "firstSeen": "2025-05-15 06:45:56",
    "lastSeen": "2025-05-15 06:45:56",
    "srcIp": "10.20.20.20",
    "srcPort": 65432,
    "dstIp": "10.10.10.10",
    "dstPort": 53,
    "protocol": "UDP",
    "signatureId": 2027865,
    "signatureName": "ET INFO Observed DNS Query to .cloud TLD",
    "logSourceIp": "10.1.1.1",
    "logSourceInterface": "idsp_eth2_out",
    "category": "Potentially Bad Traffic",
    "severity": "2",
}

MINIMAL_ADS = {"id": 1, "timestamp": "2025-05-14 15:10:28", "type": "SCANS", "source": "192.0.2.1"}


def ads(**fields) -> AdsEvent:
    """Parse MINIMAL_ADS with fields replaced (None removes a field) through the JSON entry point."""
    obj = {**MINIMAL_ADS, **fields}
    return parse_ads_json(orjson.dumps({k: v for k, v in obj.items() if v is not None}), LIMITS)


def ads_rejected(limits: InputLimits = LIMITS, **fields) -> InvalidEvent:
    obj = {k: v for k, v in {**MINIMAL_ADS, **fields}.items() if v is not None}
    with pytest.raises(InvalidEvent) as raised:
        parse_ads_json(orjson.dumps(obj), limits)
    assert raised.value.reason in REASONS
    assert str(raised.value) == raised.value.message
    return raised.value


# --- valid ADS events ------------------------------------------------------------------------------

def test_seed_ads_example_parses_into_every_field():
    event = parse_ads_json(orjson.dumps(SEED_ADS), LIMITS)
    assert event == AdsEvent(
        id=123456,
        detected_at=datetime(2025, 5, 14, 15, 10, 28, tzinfo=UTC),
        first_flow=datetime(2025, 5, 14, 14, 58, 55, tzinfo=UTC),
        type="HIGHTRANSF",
        type_desc="High volume of transferred data",
        subtype="General",
        mitre_attack=({"code": "TA0008", "name": "Lateral Movement",
                       "techniques": [{"code": "T1570", "name": "Lateral Tool Transfer"}], "version": 15},),
        perspective="",
        input_priority=None,  # "severity": "" is no priority
        detail="Transferred: 213.93 MiB, top peer transfer: 179.49 MiB.",
        ports="",
        protocol="",
        source="10.10.10.10",
        captured_source="",
        targets=("10.20.20.20",),
        data_feed="Default",
        user_identity="",
    )
    assert event.source_ip == ipaddress.ip_address("10.10.10.10")
    assert event.target_ips == (ipaddress.ip_address("10.20.20.20"),)
    assert event.is_update is False


def test_minimal_ads_event_gets_defaults_and_the_type_name():
    event = ads()
    assert (event.first_flow, event.subtype, event.targets, event.ports, event.data_feed, event.data_feed_id,
            event.method_instance, event.mac, event.flows, event.mitre_attack, event.input_priority) == (
        None, "", (), "", "", None, "", "", (), (), None)
    # Without typeDesc, the name ADS 13.0 gives the type.
    assert event.type_desc == "Port scanning"


@pytest.mark.parametrize("field", ["priority", "severity"])
@pytest.mark.parametrize("word, expected", [
    ("CRITICAL", Priority.CRITICAL), ("high", Priority.HIGH), ("Medium", Priority.MEDIUM), ("LOW", Priority.LOW),
    ("INFORMATION", Priority.INFORMATION), ("INFORMATIONAL", Priority.INFORMATION), (" informational ", Priority.INFORMATION),
])
def test_priority_is_read_from_either_field_name_and_either_spelling(field, word, expected):
    assert ads(**{field: word}).input_priority is expected


def test_priority_field_wins_over_severity():
    assert ads(priority="LOW", severity="CRITICAL").input_priority is Priority.LOW


def test_an_empty_priority_does_not_hide_the_severity():
    assert ads(priority="", severity="HIGH").input_priority is Priority.HIGH
    assert ads(priority="", severity="").input_priority is None


def test_ads_events_may_not_pose_as_ids_events():
    rejected = ads_rejected(type="IDSP")
    assert rejected.reason == "invalid_value"
    assert "IDSP is reserved for IDS events" in rejected.message


@pytest.mark.parametrize("targets, expected", [
    (["10.0.0.1", "10.0.0.2"], ("10.0.0.1", "10.0.0.2")),
    ("10.0.0.1", ("10.0.0.1",)),
    ("10.0.0.1,10.0.0.2", ("10.0.0.1", "10.0.0.2")),
    ("10.0.0.1, 2001:DB8::1 ,  10.0.0.3", ("10.0.0.1", "2001:db8::1", "10.0.0.3")),
    ("10.0.0.1,,10.0.0.2,", ("10.0.0.1", "10.0.0.2")),
    ([" 10.0.0.1 "], ("10.0.0.1",)),
    ("", ()),
    ([], ()),
])
def test_targets_as_list_or_comma_separated_string(targets, expected):
    event = ads(targets=targets)
    assert event.targets == expected
    assert event.target_ips == tuple(ipaddress.ip_address(t) for t in expected)


def test_addresses_are_normalised():
    event = ads(source=" 2001:0DB8:0000::0001 ", targets=["2001:0db8::00ff"])
    assert (event.source, event.targets) == ("2001:db8::1", ("2001:db8::ff",))
    assert event.source_ip.version == 6


@pytest.mark.parametrize("port, expected", [
    ("", ""), (None, ""), (22, "22"), (0, "0"), (65535, "65535"), ([80, 443], "80, 443"), ([], ""),
    ("22", "22"), (" 80, 443 ", "80, 443"),
])
def test_ports_empty_number_list_or_text(port, expected):
    assert ads(port=port).ports == expected


def test_ports_field_may_also_be_called_ports():
    assert ads(ports=[53]).ports == "53"


@pytest.mark.parametrize("port", [-1, 65536, 2**63, [80, 70000], [80, -5]])
def test_port_numbers_out_of_range_are_invalid(port):
    # A negative or 2^63 "port" used to be accepted and passed on as text.
    assert ads_rejected(port=port).reason == events.INVALID_VALUE


@pytest.mark.parametrize("port", [True, 1.5, {"a": 1}, [80, "443"], [True]])
def test_ports_of_another_type_are_wrong_type(port):
    assert ads_rejected(port=port).reason == events.WRONG_TYPE


def test_port_list_is_held_to_the_field_length_limit():
    limits = InputLimits(max_field_chars=64)
    assert ads_rejected(limits, port=list(range(1000, 1100))).reason == events.FIELD_TOO_LONG


def test_data_feed_from_data_feed_or_net_flow_source():
    assert ads(dataFeed="Core").data_feed == "Core"
    assert ads(netFlowSource="Edge").data_feed == "Edge"
    assert ads(dataFeed="Core", netFlowSource="Edge").data_feed == "Core"
    assert ads(dataFeedId=7).data_feed_id == 7


def test_optional_method_instance_mac_user_identity_and_protocol():
    event = ads(methodInstance="SCANS-fast", mac="0C:70:00:00:00:01", userIdentity="alice", protocol=" TCP ")
    assert (event.method_instance, event.mac, event.user_identity, event.protocol) == (
        "SCANS-fast", "0C:70:00:00:00:01", "alice", "TCP")
    assert ads(mac="0c-70-00-00-00-02").mac == "0c-70-00-00-00-02"


def test_flow_samples_become_text_mappings():
    event = ads(flows=[{"srcPort": 1234, "proto": "TCP", "bytes": 1.5, "note": None}, {}])
    assert event.flows == ({"srcPort": "1234", "proto": "TCP", "bytes": "1.5", "note": ""}, {})


@pytest.mark.parametrize("update, expected", [(True, True), (False, False), (None, False)])
def test_update_flag(update, expected):
    assert ads(update=update).is_update is expected


@pytest.mark.parametrize("value, expected", [
    ("2025-05-14 15:10:28", datetime(2025, 5, 14, 15, 10, 28, tzinfo=UTC)),
    ("2025-05-14T15:10:28Z", datetime(2025, 5, 14, 15, 10, 28, tzinfo=UTC)),
    ("2025-05-14T17:10:28+02:00", datetime(2025, 5, 14, 15, 10, 28, tzinfo=UTC)),
    (1747235428, datetime(2025, 5, 14, 15, 10, 28, tzinfo=UTC)),
    (1747235428.5, datetime(2025, 5, 14, 15, 10, 28, 500000, tzinfo=UTC)),
])
def test_times_as_ads_text_iso_8601_or_epoch_seconds(value, expected):
    event = ads(timestamp=value, firstFlow=value)
    assert event.detected_at == expected
    assert event.first_flow == expected
    # Always aware: a naive ADS time is UTC.
    assert event.detected_at.tzinfo is not None


def test_empty_first_flow_is_none_but_empty_timestamp_is_missing():
    assert ads(firstFlow="").first_flow is None
    assert ads_rejected(timestamp="").reason == events.MISSING_FIELD


def test_numbers_in_text_fields_are_taken_as_text():
    event = ads(subtype=3, detail=1.5)
    assert (event.subtype, event.detail) == ("3", "1.5")


def test_detail_may_hold_tab_and_newline_but_identifiers_may_not():
    assert ads(detail="line 1\nline 2\tend\r").detail == "line 1\nline 2\tend\r"
    assert ads_rejected(subtype="a\tb").reason == events.CONTROL_CHARACTERS


# --- valid IDS events ------------------------------------------------------------------------------

def test_seed_ids_example_parses_into_every_field():
    event = parse_ids_json(orjson.dumps(SEED_IDS), LIMITS)
    assert event == IdsEvent(
        id=123456,
        first_seen=datetime(2025, 5, 15, 6, 45, 56, tzinfo=UTC),
        last_seen=datetime(2025, 5, 15, 6, 45, 56, tzinfo=UTC),
        src_ip="10.20.20.20", dst_ip="10.10.10.10", src_port=65432, dst_port=53, protocol="UDP",
        signature_id=2027865, signature_name="ET INFO Observed DNS Query to .cloud TLD",
        log_source_ip="10.1.1.1", log_source_interface="idsp_eth2_out",
        category="Potentially Bad Traffic", severity="2",
    )
    # IDS events take part in perspectives as type IDSP, source -> destination.
    assert (event.type, event.subtype, event.method_instance, event.data_feed) == ("IDSP", "", "", "")
    assert event.source_ip == ipaddress.ip_address("10.20.20.20")
    assert event.target_ips == (ipaddress.ip_address("10.10.10.10"),)


def test_ids_severity_number_is_kept_as_text():
    assert parse_ids_json(orjson.dumps({**SEED_IDS, "severity": 1}), LIMITS).severity == "1"


@pytest.mark.parametrize("change, reason", [
    ({"srcIp": None}, events.MISSING_FIELD),
    ({"dstIp": ""}, events.MISSING_FIELD),
    ({"id": None}, events.MISSING_FIELD),
    ({"lastSeen": None}, events.MISSING_FIELD),
    ({"srcPort": 65536}, events.INVALID_VALUE),
    ({"dstPort": -1}, events.INVALID_VALUE),
    ({"dstPort": "53"}, events.WRONG_TYPE),
    ({"logSourceIp": "not-an-ip"}, events.INVALID_VALUE),
    ({"signatureId": 1.5}, events.WRONG_TYPE),
    ({"update": "no"}, events.WRONG_TYPE),
])
def test_invalid_ids_events(change, reason):
    obj = {k: v for k, v in {**SEED_IDS, **change}.items() if v is not None}
    with pytest.raises(InvalidEvent) as raised:
        parse_ids_json(orjson.dumps(obj), LIMITS)
    assert raised.value.reason == reason


def test_looks_like_ids_uses_the_seed_rule():
    assert looks_like_ids(SEED_IDS)
    assert looks_like_ids({"signatureName": "x"})
    assert looks_like_ids({"srcIp": "1.1.1.1", "dstIp": "2.2.2.2"})
    assert not looks_like_ids(SEED_ADS)
    assert not looks_like_ids({"srcIp": "1.1.1.1"})


# --- malformed input -------------------------------------------------------------------------------

@pytest.mark.parametrize("data, reason", [
    (b"\xff\xfe{}", events.UNDECODABLE),
    (b'{"id": "\xc3\x28"}', events.UNDECODABLE),
    (b"", events.INVALID_JSON),
    (b"{", events.INVALID_JSON),
    (b'{"id": 1,}', events.INVALID_JSON),
    (b"NaN", events.INVALID_JSON),
    (b'{"detail": "\\ud800"}', events.INVALID_JSON),  # a lone surrogate could not be re-encoded
    (b"[" * 2000 + b"]" * 2000, events.INVALID_JSON),
    (b"[]", events.NOT_AN_OBJECT),
    (b'"text"', events.NOT_AN_OBJECT),
    (b"null", events.NOT_AN_OBJECT),
    (b"12", events.NOT_AN_OBJECT),
])
def test_bytes_that_are_not_a_json_object(data, reason):
    for parse in (parse_ads_json, parse_ids_json):
        with pytest.raises(InvalidEvent) as raised:
            parse(data, LIMITS)
        assert raised.value.reason == reason


def test_oversized_message_is_refused_before_decoding():
    limits = InputLimits(max_message_bytes=1024)
    data = orjson.dumps({**MINIMAL_ADS, "detail": "x" * 2000})
    with pytest.raises(InvalidEvent) as raised:
        parse_ads_json(data, limits)
    assert raised.value.reason == events.OVERSIZED
    assert f"message of {len(data)} bytes exceeds the limit of 1024 bytes" in raised.value.message
    # Exactly at the limit is fine.
    exact = orjson.dumps({**MINIMAL_ADS, "detail": "x"})
    assert parse_ads_json(exact, InputLimits(max_message_bytes=len(exact))).detail == "x"


@pytest.mark.parametrize("field, reason, message", [
    ("id", events.MISSING_FIELD, "field 'id': expected an integer, found nothing"),
    ("timestamp", events.MISSING_FIELD, "field 'timestamp': expected a time, found nothing"),
    ("type", events.MISSING_FIELD, "field 'type': expected a string, found nothing"),
    ("source", events.MISSING_FIELD, "field 'source': expected a string, found nothing"),
])
def test_missing_required_fields(field, reason, message):
    rejected = ads_rejected(**{field: None})
    assert (rejected.reason, rejected.message) == (reason, message)


@pytest.mark.parametrize("fields, reason, message", [
    ({"id": "1"}, events.WRONG_TYPE, "field 'id': expected an integer, found str '1'"),
    ({"id": True}, events.WRONG_TYPE, "field 'id': expected an integer, found the boolean true"),
    ({"id": 1.0}, events.WRONG_TYPE, "field 'id': expected an integer, found float '1.0'"),
    ({"id": -1}, events.INVALID_VALUE, "field 'id': expected 0 to 2^63-1, found -1"),
    ({"id": 2**63}, events.INVALID_VALUE, "field 'id': expected 0 to 2^63-1, found 9223372036854775808"),
    ({"type": "scans"}, events.INVALID_VALUE,
     "field 'type': expected a detection method code such as SCANS (A-Z, 0-9, _), found 'scans'"),
    ({"type": "A" * 33}, events.INVALID_VALUE, None),
    ({"type": ["SCANS"]}, events.WRONG_TYPE, "field 'type': expected a string, found a list"),
    ({"source": ""}, events.MISSING_FIELD, "field 'source': expected an IPv4 or IPv6 address, found nothing"),
    ({"source": "10.0.0.256"}, events.INVALID_VALUE,
     "field 'source': expected an IPv4 or IPv6 address, found '10.0.0.256'"),
    ({"source": {"ip": "1.1.1.1"}}, events.WRONG_TYPE, "field 'source': expected a string, found a JSON object"),
    ({"timestamp": "yesterday"}, events.INVALID_VALUE,
     "field 'timestamp': expected a time such as 2025-05-14 15:10:28, found 'yesterday'"),
    ({"timestamp": [2025]}, events.WRONG_TYPE, "field 'timestamp': expected a time string, found a list"),
    ({"timestamp": False}, events.WRONG_TYPE, None),
    ({"timestamp": 10**18}, events.INVALID_VALUE, "field 'timestamp': expected epoch seconds, found 1000000000000000000"),
    ({"firstFlow": "2025-13-01 00:00:00"}, events.INVALID_VALUE, None),
    ({"mac": "0C:70:00:00:00"}, events.INVALID_VALUE, None),
    ({"targets": 5}, events.WRONG_TYPE,
     "field 'targets': expected a list or a comma-separated string, found int '5'"),
    ({"targets": ["10.0.0.1", 5]}, events.WRONG_TYPE,
     "field 'targets[1]': expected an IP address string, found int '5'"),
    ({"targets": "10.0.0.1, nope"}, events.INVALID_VALUE,
     "field 'targets[1]': expected an IPv4 or IPv6 address, found ' nope'"),
    ({"targets": [""]}, events.INVALID_VALUE, None),
    ({"mitreAttack": {"tactic": {}}}, events.WRONG_TYPE, None),
    ({"mitreAttack": [1]}, events.WRONG_TYPE, None),
    ({"mitreAttack": [{"tactic": "TA0008"}]}, events.WRONG_TYPE, None),
    ({"mitreAttack": [{"tactic": {"techniques": ["T1570"]}}]}, events.WRONG_TYPE, None),
    ({"mitreAttack": [{"version": "15"}]}, events.WRONG_TYPE, None),
    ({"flows": {"a": 1}}, events.WRONG_TYPE, None),
    ({"flows": [{"a": [1]}]}, events.WRONG_TYPE, "field 'flows[0].a': expected a scalar value"),
    ({"update": "true"}, events.WRONG_TYPE, "field 'update': expected true or false, found str 'true'"),
    ({"dataFeedId": -3}, events.INVALID_VALUE, None),
    ({"detail": ["a"]}, events.WRONG_TYPE, None),
])
def test_mistyped_and_invalid_fields_name_the_field(fields, reason, message):
    rejected = ads_rejected(**fields)
    assert rejected.reason == reason
    if message is not None:
        assert rejected.message == message
    else:
        assert rejected.message.startswith(f"field '{next(iter(fields))}")


@pytest.mark.parametrize("field", ["priority", "severity"])
@pytest.mark.parametrize("word", ["URGENT", "INFO", "5", "HIGHEST"])
def test_unknown_priority_words(field, word):
    rejected = ads_rejected(**{field: word})
    assert rejected.reason == events.UNKNOWN_PRIORITY
    assert rejected.message.startswith(f"field {field!r}: expected one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATION")


def test_priority_that_is_not_a_word():
    assert ads_rejected(priority=4).reason == events.WRONG_TYPE


@pytest.mark.parametrize("fields", [
    {"subtype": "a\x00b"}, {"protocol": "TCP\n"}, {"methodInstance": "x\x1b[31m"}, {"detail": "bell\x07"},
    {"detail": "c1 control \x85"}, {"typeDesc": "\x7f"}, {"perspective": "a\x0bb"},
    {"flows": [{"k": "v\n"}]}, {"flows": [{"k\t": "v"}]},
    {"mitreAttack": [{"tactic": {"code": "TA\x000"}}]},
])
def test_control_characters_are_refused(fields):
    assert ads_rejected(**fields).reason == events.CONTROL_CHARACTERS


@pytest.mark.parametrize("fields", [
    {"detail": "x" * 65}, {"subtype": "y" * 65}, {"flows": [{"k": "v" * 65}]},
    {"mitreAttack": [{"tactic": {"name": "n" * 65}}]},
])
def test_huge_fields_are_refused(fields):
    limits = InputLimits(max_field_chars=64)
    rejected = ads_rejected(limits, **fields)
    assert rejected.reason == events.FIELD_TOO_LONG
    assert "expected at most 64 characters, found 65" in rejected.message


def test_field_exactly_at_the_length_limit_is_accepted():
    limits = InputLimits(max_field_chars=64)
    obj = {**MINIMAL_ADS, "detail": "x" * 64}
    assert parse_ads_json(orjson.dumps(obj), limits).detail == "x" * 64


@pytest.mark.parametrize("targets", [[f"10.0.0.{i}" for i in range(5)], ",".join(f"10.0.0.{i}" for i in range(5))])
def test_too_many_targets(targets):
    limits = InputLimits(max_targets=4)
    rejected = ads_rejected(limits, targets=targets)
    assert rejected.reason == events.TOO_MANY_TARGETS
    assert rejected.message == ("field 'targets': expected at most 4 targets (input.max_targets), found 5")


def test_targets_exactly_at_the_limit_are_accepted():
    limits = InputLimits(max_targets=4)
    obj = {**MINIMAL_ADS, "targets": [f"10.0.0.{i}" for i in range(4)]}
    assert len(parse_ads_json(orjson.dumps(obj), limits).targets) == 4


def test_too_many_flow_samples():
    limits = InputLimits(max_flows=2)
    assert ads_rejected(limits, flows=[{}, {}, {}]).reason == events.FIELD_TOO_LONG


@pytest.mark.parametrize("fields", [
    {"source": "fe80::1%eth0"},
    # ipaddress accepts any zone text, control characters, commas and all: it reached the sinks.
    {"targets": ["fe80::1%\x01evil"]},
    {"targets": ["fe80::1%a, b|c=d"]},
])
def test_ipv6_zone_ids_are_refused(fields):
    assert ads_rejected(**fields).reason == events.INVALID_VALUE


def test_ipv6_zone_ids_are_refused_in_ids_events():
    for field in ("srcIp", "dstIp", "logSourceIp"):
        with pytest.raises(InvalidEvent) as raised:
            parse_ids_json(orjson.dumps({**SEED_IDS, field: "fe80::1%eth0"}), LIMITS)
        assert raised.value.reason == events.INVALID_VALUE


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_times_without_a_utc_form_are_invalid(value):
    # Accepted before, and encoded into routed messages that every reader failed to decode.
    assert ads_rejected(timestamp=value).reason == events.INVALID_VALUE
    assert ads_rejected(firstFlow=value).reason == events.INVALID_VALUE


def test_extreme_times_that_have_a_utc_form_are_accepted():
    assert ads(timestamp="0001-01-01T00:00:00-01:00").detected_at.year == 1
    assert ads(timestamp="9999-12-31T23:59:59+01:00").detected_at.year == 9999


@pytest.mark.parametrize("techniques", [5, True, 1.5])
def test_mitre_techniques_that_are_not_a_list(techniques):
    # `for technique in 5` raised TypeError out of the parser.
    rejected = ads_rejected(mitreAttack=[{"tactic": {"code": "TA0008", "techniques": techniques}}])
    assert rejected.reason == events.WRONG_TYPE


@pytest.mark.parametrize("version", [2**31, -1, 2**64 - 1])
def test_mitre_version_must_fit_the_avro_int(version):
    # A larger version was accepted and made encoding the routed message raise ValueError.
    assert ads_rejected(mitreAttack=[{"version": version}]).reason == events.INVALID_VALUE
    assert ads(mitreAttack=[{"version": 2**31 - 1}]).mitre_attack[0]["version"] == 2**31 - 1


def test_from_mapping_accepts_datetimes_as_decoded_from_avro():
    when = datetime(2025, 5, 14, 15, 10, 28, tzinfo=UTC)
    event = ads_event_from_mapping({**MINIMAL_ADS, "timestamp": when, "firstFlow": None}, LIMITS)
    assert event.detected_at == when
    naive = ids_event_from_mapping({**SEED_IDS, "firstSeen": datetime(2025, 1, 1)}, LIMITS)
    assert naive.first_seen == datetime(2025, 1, 1, tzinfo=UTC)


def test_every_reason_code_is_a_short_metric_label():
    assert len(set(REASONS)) == len(REASONS) == 12
    assert all(reason.isidentifier() and reason.islower() for reason in REASONS)


def test_mitre_tactics_nested_as_in_json_or_flat_as_in_avro():
    nested = ads(mitreAttack=SEED_ADS["mitreAttack"]).mitre_attack
    # Avro records (and our own routed messages) carry the tactic flat; it used to be read through
    # a "tactic" key it does not have, and came out empty.
    flat = ads_event_from_mapping({**MINIMAL_ADS, "mitreAttack": [
        {"code": "TA0008", "name": "Lateral Movement", "techniques": [{"code": "T1570", "name": "Lateral Tool Transfer"}],
         "version": 15}]}, LIMITS).mitre_attack
    assert nested == flat == ({"code": "TA0008", "name": "Lateral Movement",
                               "techniques": [{"code": "T1570", "name": "Lateral Tool Transfer"}], "version": 15},)
    assert ads(mitreAttack=[{"tactic": None, "version": 1}]).mitre_attack == (
        {"code": "", "name": "", "techniques": [], "version": 1},)
