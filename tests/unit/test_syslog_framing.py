"""Syslog framing: PRI of every priority, RFC 3164 and RFC 5424 shapes, octet counting, and no
way for message text to put a line break, NUL or other control character on the wire."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinks.syslog_framing import (FACILITY_LOCAL6, Origin, header_field, octet_counted, pri, rfc3164, rfc5424,
                                  sanitize, severity_of, syslog_frame)
from streams.config import SYSLOG_SEVERITIES, SyslogAction
from streams.priorities import Priority

UTC = timezone.utc
MOMENT = datetime(2025, 11, 3, 15, 11, 1, 250000, tzinfo=UTC)
ORIGIN = Origin(hostname="ads-host", app_name="ADS", procid="4242")
# RFC 5424 section 6: HEADER = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID, then SD.
RFC5424 = re.compile(r"^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
                     r"([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) (-|\[.*\]) (.*)$", re.S)


def action(**options) -> SyslogAction:
    return SyslogAction(name="siem", perspective="security", **options)


@pytest.mark.parametrize("priority, severity, pri_value", [
    (Priority.CRITICAL, "alert", 177),
    (Priority.HIGH, "crit", 178),
    (Priority.MEDIUM, "err", 179),
    (Priority.LOW, "warning", 180),
    (Priority.INFORMATION, "notice", 181),
])
def test_priority_gives_the_seed_severity_on_facility_local6(priority, severity, pri_value):
    number = severity_of(priority, action())
    assert SYSLOG_SEVERITIES[number] == severity
    assert pri(number) == pri_value == FACILITY_LOCAL6 * 8 + number


@pytest.mark.parametrize("severity", SYSLOG_SEVERITIES)
def test_without_priority_as_severity_every_message_has_the_fixed_severity(severity):
    fixed = action(priority_as_severity=False, severity=severity)
    assert {severity_of(priority, fixed) for priority in Priority} == {SYSLOG_SEVERITIES.index(severity)}


def test_the_default_fixed_severity_is_notice():
    assert severity_of(Priority.CRITICAL, action(priority_as_severity=False)) == 5


def test_rfc3164_is_the_real_emitters_shape():
    assert rfc3164(181, MOMENT, ORIGIN, "CEF:0|x", UTC) == "<181>Nov  3 15:11:01 ads-host ADS[4242]: CEF:0|x"
    assert rfc3164(181, MOMENT.replace(day=13), ORIGIN, "m", UTC).startswith("<181>Nov 13 15:11:01 ")


def test_rfc5424_has_a_full_timestamp_and_nil_msgid_and_structured_data():
    line = rfc5424(178, MOMENT, ORIGIN, "CEF:0|x", UTC)
    assert line == "<178>1 2025-11-03T15:11:01.250+00:00 ads-host ADS 4242 - - CEF:0|x"
    assert RFC5424.match(line).groups() == ("178", "2025-11-03T15:11:01.250+00:00", "ads-host", "ADS", "4242",
                                            "-", "-", "CEF:0|x")


def test_times_are_written_in_the_given_zone():
    prague = ZoneInfo("Europe/Prague")
    assert rfc3164(181, MOMENT, ORIGIN, "m", prague).startswith("<181>Nov  3 16:11:01 ")
    assert " 2025-11-03T16:11:01.250+01:00 " in rfc5424(181, MOMENT, ORIGIN, "m", prague)


def test_months_are_english_whatever_the_locale():
    assert [rfc3164(181, MOMENT.replace(month=m), ORIGIN, "m", UTC)[5:8] for m in (1, 5, 12)] == ["Jan", "May", "Dec"]


def test_header_fields_are_printable_ascii_without_spaces():
    origin = Origin(hostname="my host\n", app_name="ADS", procid="")
    assert rfc3164(181, MOMENT, origin, "m", UTC) == "<181>Nov  3 15:11:01 my_host_ ADS[-]: m"
    assert header_field("") == "-"
    assert header_field("h" * 300) == "h" * 255
    assert header_field("hôte") == "h_te"


def test_octet_counting_counts_utf8_bytes():
    assert octet_counted("<181>1 - - - - - - é".encode()) == b"21 <181>1 - - - - - - \xc3\xa9"
    frame = syslog_frame("rfc3164", 181, MOMENT, ORIGIN, "CEF:0|é", UTC, stream=True)
    length, _, message = frame.partition(b" ")
    assert int(length) == len(message) and message.decode().endswith("CEF:0|é")


def test_datagrams_are_not_octet_counted_nor_terminated():
    frame = syslog_frame("rfc5424", 181, MOMENT, ORIGIN, "CEF:0|x", UTC, stream=False)
    assert frame == b"<181>1 2025-11-03T15:11:01.250+00:00 ads-host ADS 4242 - - CEF:0|x"


def test_control_characters_and_line_separators_never_reach_the_wire():
    text = "a\nb\rc\x00d\x1be\x85f\u2028g\u2029h\ti"
    assert sanitize(text) == "a b c d e f g h\ti"
    for framing in ("rfc3164", "rfc5424"):
        frame = syslog_frame(framing, 181, MOMENT, ORIGIN, text, UTC, stream=False)
        assert frame.decode().endswith("a b c d e f g h\ti")


@given(message=st.text(), hostname=st.text(), framing=st.sampled_from(["rfc3164", "rfc5424"]),
       stream=st.booleans())
def test_no_text_puts_a_line_break_or_nul_on_the_wire(message, hostname, framing, stream):
    frame = syslog_frame(framing, 181, MOMENT, Origin(hostname, "ADS", "1"), message, UTC, stream)
    assert not re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", frame)
    text = frame.decode()
    assert not re.search("[\x80-\x9f\u2028\u2029]", text)
    if stream:
        length, _, text = text.partition(" ")
        assert int(length) == len(text.encode())
    if framing == "rfc5424":
        assert RFC5424.match(text)
