"""The stdin lines custom scripts read: exact fields for ADS (15/17) and IDS (14) events, JSON,
and that no value can ever add a field or a line."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from sinks.script_input import ADS_TSV_EXTENDED_FIELDS, ADS_TSV_FIELDS, IDS_TSV_FIELDS, script_line, tsv_field
from streams.events import InputLimits, ads_event_from_mapping, ids_event_from_mapping
from streams.priorities import Priority

LIMITS = InputLimits()

ADS = {
    "id": 123456, "timestamp": "2025-05-14 15:10:28", "firstFlow": "2025-05-14 14:58:55", "type": "HIGHTRANSF",
    "typeDesc": "High volume of transferred data", "subtype": "General",
    "mitreAttack": [{"tactic": {"code": "TA0008", "name": "Lateral Movement",
                                "techniques": [{"code": "T1570", "name": "Lateral Tool Transfer"},
                                               {"code": "T1021", "name": "Remote Services"}]}, "version": 15},
                    {"tactic": {"code": "TA0010", "name": "Exfiltration", "techniques": []}, "version": 15}],
    "perspective": "", "severity": "",
    "detail": "Transferred: 213.93 MiB, top peer transfer: 179.49 MiB.", "port": "443", "protocol": "TCP",
    "source": "10.10.10.10", "capturedSource": "", "targets": "10.20.20.20, 10.20.20.21",
    "netFlowSource": "Default", "userIdentity": "alice",
}
IDS = {
    "id": 123456, "firstSeen": "2025-05-15 06:45:56", "lastSeen": "2025-05-15 06:46:01", "srcIp": "10.20.20.20",
    "srcPort": 65432, "dstIp": "10.10.10.10", "dstPort": 53, "protocol": "UDP", "signatureId": 2027865,
    "signatureName": "ET INFO Observed DNS Query to .cloud TLD", "logSourceIp": "10.1.1.1",
    "logSourceInterface": "idsp_eth2_out", "category": "Potentially Bad Traffic", "severity": "2",
}


def ads_event(**changes):
    return ads_event_from_mapping({**ADS, **changes}, LIMITS)


def ids_event(**changes):
    return ids_event_from_mapping({**IDS, **changes}, LIMITS)


def test_ads_tsv_has_the_15_fields_in_the_documented_order():
    line = script_line(ads_event(), "tsv", "security", Priority.HIGH)
    assert line.split("\t") == [
        "123456", "2025-05-14 15:10:28", "2025-05-14 14:58:55", "HIGHTRANSF", "High volume of transferred data",
        "security", "HIGH", "Transferred: 213.93 MiB, top peer transfer: 179.49 MiB.", "443", "TCP",
        "10.10.10.10", " ", "10.20.20.20, 10.20.20.21", "Default", "alice"]


def test_ads_tsv_extended_adds_subtype_and_compact_mitre_after_the_type():
    fields = script_line(ads_event(), "tsv-extended", "security", Priority.HIGH).split("\t")
    assert len(fields) == ADS_TSV_EXTENDED_FIELDS
    assert fields[3:7] == ["HIGHTRANSF", "General", "TA0008:T1570,TA0008:T1021,TA0010",
                           "High volume of transferred data"]


def test_empty_fields_are_a_single_space():
    event = ads_event(firstFlow=None, typeDesc="", subtype="", mitreAttack=[], detail="", port="", protocol="",
                      targets="", userIdentity="", netFlowSource="")
    fields = script_line(event, "tsv-extended", "ops", None).split("\t")
    # typeDesc falls back to the type's name, as everywhere else.
    assert fields == ["123456", "2025-05-14 15:10:28", " ", "HIGHTRANSF", " ", " ",
                      "High volume of transferred data", "ops", " ", " ", " ", " ", "10.10.10.10", " ", " ", " ", " "]


def test_times_are_written_in_utc_whatever_offset_they_came_with():
    fields = script_line(ads_event(timestamp="2025-05-14T17:10:28+02:00"), "tsv", "p", None).split("\t")
    assert fields[1] == "2025-05-14 15:10:28"


def test_tabs_newlines_and_other_control_characters_inside_values_become_spaces():
    # replace(): the event parser refuses most control characters; the formatter must not rely on it.
    event = replace(ads_event(), detail="line one\nline\ttwo\r\nend", user_identity="a\u2028b", type_desc="x\x0by")
    fields = script_line(event, "tsv", "p", Priority.LOW).split("\t")
    assert len(fields) == ADS_TSV_FIELDS
    assert fields[7] == "line one line two  end"
    assert fields[14] == "a b"
    assert fields[4] == "x y"


def test_ads_json_has_the_seed_keys_with_perspective_and_priority_of_the_action():
    record = json.loads(script_line(ads_event(), "json", "security", Priority.CRITICAL))
    assert record == {
        "id": 123456, "timestamp": "2025-05-14 15:10:28", "firstFlow": "2025-05-14 14:58:55", "type": "HIGHTRANSF",
        "typeDesc": "High volume of transferred data", "subtype": "General",
        "mitreAttack": ADS["mitreAttack"], "perspective": "security", "severity": "CRITICAL",
        "detail": "Transferred: 213.93 MiB, top peer transfer: 179.49 MiB.", "port": "443", "protocol": "TCP",
        "source": "10.10.10.10", "capturedSource": "", "targets": "10.20.20.20, 10.20.20.21",
        "netFlowSource": "Default", "userIdentity": "alice",
    }
    assert list(record) == ["id", "timestamp", "firstFlow", "type", "typeDesc", "subtype", "mitreAttack",
                            "perspective", "severity", "detail", "port", "protocol", "source", "capturedSource",
                            "targets", "netFlowSource", "userIdentity"]


def test_json_keeps_values_exactly_on_one_line():
    detail = "a\tb\nc\rd \u2028 e \x85 f ž"
    line = script_line(replace(ads_event(), detail=detail), "json", "p", None)
    assert line.splitlines() == [line]
    assert json.loads(line)["detail"] == detail
    assert "ž" in line  # UTF-8, not escaped


def test_ids_tsv_has_the_14_fields_in_the_documented_order():
    line = script_line(ids_event(), "tsv", "security", Priority.HIGH)
    assert line.split("\t") == [
        "123456", "2025-05-15 06:45:56", "2025-05-15 06:46:01", "10.20.20.20", "65432", "10.10.10.10", "53", "UDP",
        "2027865", "ET INFO Observed DNS Query to .cloud TLD", "10.1.1.1", "idsp_eth2_out",
        "Potentially Bad Traffic", "2"]
    assert script_line(ids_event(), "tsv-extended", "security", Priority.HIGH) == line


def test_ids_json_has_the_seed_keys_and_the_events_own_severity():
    record = json.loads(script_line(ids_event(), "json", "security", Priority.HIGH))
    assert record == IDS
    assert list(record) == list(IDS)


def test_ids_missing_numbers_are_empty_in_tsv_and_null_in_json():
    event = ids_event(srcPort=None, dstPort=None, signatureId=None, category="")
    fields = script_line(event, "tsv", "p", None).split("\t")
    assert (fields[4], fields[6], fields[8], fields[12]) == (" ", " ", " ", " ")
    record = json.loads(script_line(event, "json", "p", None))
    assert (record["srcPort"], record["dstPort"], record["signatureId"]) == (None, None, None)


def test_tsv_field():
    assert tsv_field("") == " "
    assert tsv_field("a\tb\nc\rd\x00e\x7ff\x9fg") == "a b c d e f g"


free_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(detail=free_text, desc=free_text, user=free_text, captured=free_text, subtype=free_text)
def test_random_text_never_changes_the_ads_field_count(detail, desc, user, captured, subtype):
    event = replace(ads_event(), detail=detail, type_desc=desc, user_identity=user, captured_source=captured,
                    subtype=subtype)
    for input_format, count in (("tsv", ADS_TSV_FIELDS), ("tsv-extended", ADS_TSV_EXTENDED_FIELDS)):
        line = script_line(event, input_format, desc, Priority.MEDIUM)
        assert len(line.split("\t")) == count
        assert len(line.splitlines()) == 1
    assert len(script_line(event, "json", desc, None).splitlines()) == 1


@given(signature=free_text, category=free_text, interface=free_text, severity=free_text)
def test_random_text_never_changes_the_ids_field_count(signature, category, interface, severity):
    event = replace(ids_event(), signature_name=signature, category=category, log_source_interface=interface,
                    severity=severity)
    line = script_line(event, "tsv", "p", None)
    assert len(line.split("\t")) == IDS_TSV_FIELDS
    assert len(line.splitlines()) == 1
    assert len(script_line(event, "json", "p", None).splitlines()) == 1
