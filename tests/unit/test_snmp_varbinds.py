"""The varbinds of adsEventNotification: every object, in the MIB's order, and the rules for long
values (deploy/mibs/README.md, "Long values")."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sinks.snmp_varbinds import (ADS_ACTIONS_MIB_OID, EVENT_OBJECTS, LONG_TEXT_MAX_OCTETS, TEXT_MAX_OCTETS,
                                 UNKNOWN_DATE_AND_TIME, date_and_time, event_varbinds,
                                 target_list, truncate_utf8)
from streams.events import AdsEvent, InputLimits, ads_event_from_mapping
from streams.priorities import Priority

LIMITS = InputLimits()
SCANS_V4 = {
    "id": 123456,
    "timestamp": "2025-05-14 15:10:28.75",
    "firstFlow": "2025-05-14 14:58:55",
    "type": "SCANS",
    "typeDesc": "Port scanning",
    "subtype": "TCP SYN",
    "detail": "Scanned ports: 22, 23, 80 (3 ports)",
    "port": "22, 23, 80",
    "protocol": "TCP",
    "source": "10.10.10.10",
    "capturedSource": "scanner.example.org",
    "targets": ["10.20.20.20", "10.20.20.21"],
    "netFlowSource": "Default",
    "methodInstance": "scans-default",
    "userIdentity": "alice@example.org",
}


def varbinds(event: AdsEvent, priority: Priority = Priority.HIGH) -> dict[str, object]:
    return {v.name: v.value for v in event_varbinds(event, perspective="Security", perspective_id=7,
                                                    priority=priority)}


def event(**fields: object) -> AdsEvent:
    return ads_event_from_mapping({**SCANS_V4, **fields}, LIMITS)


def test_every_object_in_the_mib_order_with_its_oid():
    found = event_varbinds(event(), perspective="Security", perspective_id=7, priority=Priority.HIGH)
    assert [v.name for v in found] == list(EVENT_OBJECTS)
    assert [v.oid for v in found] == [ADS_ACTIONS_MIB_OID + (1, n, 0) for n in range(1, 20)]


def test_ipv4_event():
    values = varbinds(event())
    assert values["adsEventId"] == b"123456"
    assert values["adsEventDetectionTime"] == bytes([0x07, 0xE9, 5, 14, 15, 10, 28, 7]) + b"+\x00\x00"
    assert values["adsEventFirstFlowTime"] == bytes([0x07, 0xE9, 5, 14, 14, 58, 55, 0]) + b"+\x00\x00"
    assert values["adsEventType"] == b"SCANS"
    assert values["adsEventTypeDescription"] == b"Port scanning"
    assert values["adsEventSubtype"] == b"TCP SYN"
    assert values["adsEventPerspective"] == b"Security"
    assert values["adsEventPerspectiveId"] == 7
    assert values["adsEventPriority"] == 4
    assert values["adsEventDetail"] == b"Scanned ports: 22, 23, 80 (3 ports)"
    assert values["adsEventPorts"] == b"22, 23, 80"
    assert values["adsEventProtocol"] == b"TCP"
    assert values["adsEventSource"] == b"10.10.10.10"
    assert values["adsEventCapturedSource"] == b"scanner.example.org"
    assert values["adsEventTargetCount"] == 2
    assert values["adsEventTargets"] == b"10.20.20.20,10.20.20.21"
    assert values["adsEventDataFeed"] == b"Default"
    assert values["adsEventUserIdentity"] == b"alice@example.org"
    assert values["adsEventMethodInstance"] == b"scans-default"


def test_ipv6_event_addresses_in_their_normal_form():
    values = varbinds(event(source="2001:DB8:0:0::1", targets=["2001:db8::a:0:0:2", "::ffff:192.0.2.1"]))
    assert values["adsEventSource"] == b"2001:db8::1"
    assert values["adsEventTargets"] == b"2001:db8::a:0:0:2,::ffff:c000:201"
    assert values["adsEventTargetCount"] == 2


def test_empty_optional_fields():
    minimal = ads_event_from_mapping({"id": 0, "timestamp": "2025-05-14 15:10:28", "type": "DOS",
                                      "source": "192.0.2.1"}, LIMITS)
    values = varbinds(minimal, Priority.INFORMATION)
    assert values["adsEventId"] == b"0"
    assert values["adsEventFirstFlowTime"] == UNKNOWN_DATE_AND_TIME == bytes(8)
    assert values["adsEventTypeDescription"] == b"Denial of service attack"  # the known name of the type
    for name in ("adsEventSubtype", "adsEventDetail", "adsEventPorts", "adsEventProtocol", "adsEventCapturedSource",
                 "adsEventTargets", "adsEventDataFeed", "adsEventUserIdentity", "adsEventMethodInstance"):
        assert values[name] == b"", name
    assert values["adsEventTargetCount"] == 0
    assert values["adsEventPriority"] == 1


def test_largest_event_id_fits_the_mib_size():
    assert varbinds(event(id=2**63 - 1))["adsEventId"] == b"9223372036854775807"


def test_times_with_an_offset_are_sent_in_utc():
    assert date_and_time(datetime.fromisoformat("2025-05-14T17:10:28+02:00")) == \
        date_and_time(datetime(2025, 5, 14, 15, 10, 28, tzinfo=timezone.utc))


def test_long_detail_is_cut_at_a_character_boundary_with_a_marker():
    detail = "ž" * 2000  # two octets each: 4000 octets
    sent = varbinds(event(detail=detail))["adsEventDetail"]
    assert len(sent) <= LONG_TEXT_MAX_OCTETS
    assert bytes(sent).endswith(b"...")
    assert bytes(sent)[:-3].decode("utf-8") == "ž" * 510  # 1021 octets leave room for 510 whole characters


def test_text_that_fits_exactly_is_not_cut():
    assert truncate_utf8("a" * TEXT_MAX_OCTETS, TEXT_MAX_OCTETS) == b"a" * TEXT_MAX_OCTETS
    assert truncate_utf8("a" * (TEXT_MAX_OCTETS + 1), TEXT_MAX_OCTETS) == b"a" * (TEXT_MAX_OCTETS - 3) + b"..."


@pytest.mark.parametrize("character", ["é", "€", "😀"])
def test_cutting_never_splits_a_multi_octet_character(character):
    for size in range(4, 40):
        cut = truncate_utf8("x" + character * 40, size)
        assert len(cut) <= size
        cut.decode("utf-8")  # raises if a character was split


def test_short_text_fields_are_cut_to_255_octets():
    values = varbinds(event(typeDesc="d" * 300, capturedSource="c" * 300, userIdentity="u" * 300))
    for name in ("adsEventTypeDescription", "adsEventCapturedSource", "adsEventUserIdentity"):
        assert len(values[name]) == TEXT_MAX_OCTETS
        assert bytes(values[name]).endswith(b"...")


def test_many_targets_list_whole_addresses_that_fit_and_count_all():
    targets = [f"10.{i // 256}.{i % 256}.1" for i in range(500)]
    values = varbinds(event(targets=targets))
    listed = bytes(values["adsEventTargets"]).decode("ascii").split(",")
    assert values["adsEventTargetCount"] == 500
    assert listed == targets[:len(listed)]
    assert len(bytes(values["adsEventTargets"])) <= LONG_TEXT_MAX_OCTETS
    assert len(",".join(targets[:len(listed) + 1])) > LONG_TEXT_MAX_OCTETS  # the next one would not fit


def test_target_list_that_fits_exactly():
    targets = ("1.2.3.4",) * 8  # 8 * 7 + 7 commas = 63 octets
    assert target_list(targets, 63) == b",".join([b"1.2.3.4"] * 8)
    assert target_list(targets, 62) == b",".join([b"1.2.3.4"] * 7)
