"""CEF payloads: every event of the real ADS 13.0 samples rebuilt and formatted again must give the
real lines back, field by field (an independent parser, cefp) and byte for byte; escaping must
round-trip any text through that parser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cefp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinks.cef import MAX_TARGETS_PER_MESSAGE, MONTHS, cef_messages, escape_extension, escape_header, split_targets
from sinks.syslog_framing import Origin, pri, rfc3164, severity_of
from streams.config import SyslogAction, SyslogSettings
from streams.events import AdsEvent, InputLimits, ads_event_from_mapping
from streams.priorities import CEF_SEVERITY, Priority

SAMPLES = Path(__file__).resolve().parent.parent / "syslog_samples" / "ADS_13.0"
SAMPLE_FILES = sorted(path.name for path in SAMPLES.glob("*.txt"))
UTC = timezone.utc
DEFAULTS = SyslogSettings()
PRIORITY_OF_CEF_SEVERITY = {severity: priority for priority, severity in CEF_SEVERITY.items()}
_SAMPLE_LINE = re.compile(r"^(?P<time>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) (?P<app>[^\s\[]+)\[(?P<pid>\d+)\]: "
                          r"(?P<cef>CEF:.*)$")
_EXTENSION_KEY = re.compile(r"(?:^| )([A-Za-z0-9]+)=")


def action(**options: Any) -> SyslogAction:
    return SyslogAction(name="siem", perspective="security", **options)


@dataclass(frozen=True)
class SampleLine:
    time: str
    host: str
    app: str
    pid: str
    cef: str

    @property
    def parsed(self) -> dict[str, Any]:
        return cefp.parse(self.cef)


def read_sample(name: str) -> list[list[SampleLine]]:
    """The lines of a sample file grouped by event: one ADS process (pid) writes all of an event's
    lines, and one event's lines are consecutive."""
    events: list[list[SampleLine]] = []
    for text in (SAMPLES / name).read_text(encoding="utf-8").splitlines():
        match = _SAMPLE_LINE.match(text)
        assert match, f"{name}: not a syslog CEF line: {text[:120]}"
        line = SampleLine(**match.groupdict())
        if events and events[-1][0].pid == line.pid:
            events[-1].append(line)
        else:
            events.append([line])
    return events


def parse_cef_time(text: str) -> datetime:
    month, day, year, clock = text.split(" ")
    hour, minute, second = map(int, clock.split(":"))
    return datetime(int(year), MONTHS.index(month) + 1, int(day), hour, minute, second, tzinfo=UTC)


def rebuild_event(lines: list[SampleLine], machine_readable: bool) -> tuple[AdsEvent, Priority, int]:
    """The event (through the input parser, as the worker gets it), its priority and perspective ID."""
    first = lines[0].parsed
    extension = first["extension"]
    targets: list[str] = []
    for line in lines:
        fields = line.parsed["extension"]
        targets += [fields[key] for key in ("dst", "c6a3") if key in fields]
        targets += [target for key in ("cs4", "cs6") if key in fields for target in fields[key].split(", ")]
    mapping = {
        "id": int(lines[0].pid),
        "timestamp": parse_cef_time(extension["start"]).isoformat(),
        "type": first["device"]["event_class_id"],
        "typeDesc": first["name"],  # as ADS sends it (the seed's JSON example)
        "source": extension.get("src") or extension["c6a2"],
        "mac": extension["smac"],
        "targets": targets,
        "methodInstance": extension["cs2"],
        "dataFeedId": int(extension["cn2"]),
        # Both forms are present, as ADS sends them: the action's option picks one.
        "detail": "(human-readable detail)" if machine_readable else extension["msg"],
        "detailMachine": extension["msg"] if machine_readable else "{Unused:'machine-readable detail'}",
    }
    event = ads_event_from_mapping(mapping, InputLimits())
    return event, PRIORITY_OF_CEF_SEVERITY[int(first["severity"])], int(extension["cn3"])


def extension_keys(cef: str) -> list[str]:
    """The extension keys in the order written (values here hold no escaped ``=``)."""
    return _EXTENSION_KEY.findall(cef.split("|", 7)[7])


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_sample_event_is_formatted_as_ads_13_formats_it(name: str):
    divided = "single_target_per_event_max5" in name
    options = action(divide_by_targets=divided, max_messages_per_event=5,
                     machine_readable_detail="machine_readable" in name)
    events = read_sample(name)
    assert len(events) == 160
    for lines in events:
        assert len(lines) == (6 if divided else 1)
        event, priority, perspective_id = rebuild_event(lines, options.machine_readable_detail)
        ours = cef_messages(event, priority, perspective_id, options, DEFAULTS, UTC)
        assert len(ours) == len(lines)
        for mine, real in zip(ours, lines):
            assert cefp.parse(mine) == real.parsed  # header fields and every extension value
            assert list(cefp.parse(mine)["extension"]) == list(real.parsed["extension"])
            assert extension_keys(mine) == extension_keys(real.cef)  # the order, and no key twice
            assert mine == real.cef  # the samples hold nothing to escape: byte for byte
            # The syslog header around it, given the real host name, process ID and clock.
            clock = datetime.strptime(f"2025 {real.time}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
            origin = Origin(hostname=real.host, app_name=DEFAULTS.app_name, procid=real.pid)
            line = rfc3164(pri(severity_of(priority, options)), clock, origin, mine, UTC)
            assert line.split(">", 1)[1] == f"{real.time} {real.host} {real.app}[{real.pid}]: {real.cef}"


def event(**fields: Any) -> AdsEvent:
    defaults: dict[str, Any] = dict(id=42, detected_at=datetime(2025, 11, 3, 15, 11, 1, tzinfo=UTC), type="SCANS",
                                    type_desc="Port scanning", source="10.0.0.1", mac="0c:70:00:00:00:00",
                                    detail="Scanned ports: 80.", targets=("192.168.0.2",), method_instance="Default",
                                    data_feed_id=1)
    return AdsEvent(**{**defaults, **fields})


def extension(cef: str) -> dict[str, str]:
    return cefp.parse(cef)["extension"]


def ipv4_targets(count: int) -> tuple[str, ...]:
    return tuple(f"192.168.0.{n}" for n in range(1, count + 1))


@pytest.mark.parametrize("count, expected", [
    (0, [()]),
    (1, [("a",)]),
    (5, [("a",), ("b",), ("c",), ("d",), ("e",)]),
    (6, [("a",), ("b",), ("c",), ("d",), ("e",), ("f",)]),
    (7, [("a",), ("b",), ("c",), ("d",), ("e",), ("f", "g")]),
])
def test_divided_targets_are_single_until_the_maximum_then_one_list_of_the_rest(count, expected):
    assert split_targets("abcdefg"[:count], divide=True, max_messages=5) == expected


def test_a_message_carries_at_most_ten_targets():
    many = ipv4_targets(25)
    assert split_targets(many, divide=False, max_messages=5) == [many[:10]]
    assert split_targets(many, divide=True, max_messages=5) == [(t,) for t in many[:5]] + [many[5:15]]
    [message] = cef_messages(event(targets=many), Priority.HIGH, 1, action(), DEFAULTS, UTC)
    assert extension(message)["cs4"] == ", ".join(many[:MAX_TARGETS_PER_MESSAGE])


def test_one_target_without_dividing_uses_the_single_address_key():
    [message] = cef_messages(event(targets=("192.168.0.2",)), Priority.HIGH, 1, action(), DEFAULTS, UTC)
    assert extension(message)["dst"] == "192.168.0.2"
    assert "cs4" not in extension(message)


def test_an_event_without_targets_is_one_message_without_target_keys():
    for divide in (False, True):
        [message] = cef_messages(event(targets=()), Priority.HIGH, 1, action(divide_by_targets=divide), DEFAULTS, UTC)
        assert extension_keys(message) == ["src", "smac", "start", "msg", "cs2", "cs2Label", "cn2", "cn2Label",
                                           "cn3", "cn3Label"]


def test_mixed_families_give_the_ipv4_keys_then_the_ipv6_keys():
    mixed = ("192.168.0.2", "fe80::2", "192.168.0.3", "fe80::3")
    [message] = cef_messages(event(targets=mixed), Priority.HIGH, 1, action(), DEFAULTS, UTC)
    fields = extension(message)
    assert extension_keys(message)[4:8] == ["cs4", "cs4Label", "cs6", "cs6Label"]
    assert (fields["cs4"], fields["cs6"]) == ("192.168.0.2, 192.168.0.3", "fe80::2, fe80::3")
    [message] = cef_messages(event(targets=mixed[:2]), Priority.HIGH, 1, action(), DEFAULTS, UTC)
    assert extension_keys(message)[4:7] == ["dst", "c6a3", "c6a3Label"]
    divided = cef_messages(event(targets=mixed), Priority.HIGH, 1, action(divide_by_targets=True,
                                                                          max_messages_per_event=1), DEFAULTS, UTC)
    assert [extension_keys(m)[4:] for m in divided] == [
        ["dst", "cs2", "cs2Label", "cn2", "cn2Label", "cn3", "cn3Label"],
        ["dst", "cs6", "cs6Label", "cs2", "cs2Label", "cn2", "cn2Label", "cn3", "cn3Label"]]
    assert (extension(divided[1])["dst"], extension(divided[1])["cs6"]) == ("192.168.0.3", "fe80::2, fe80::3")


def test_event_id_goes_last_when_the_action_asks_for_it():
    [message] = cef_messages(event(), Priority.HIGH, 3, action(use_event_id=True), DEFAULTS, UTC)
    assert message.endswith(" cn3=3 cn3Label=PerspectiveID cn1=42 cn1Label=EventID")
    [message] = cef_messages(event(), Priority.HIGH, 3, action(), DEFAULTS, UTC)
    assert "cn1" not in extension(message)


def test_unknown_values_are_left_out_with_their_labels():
    [message] = cef_messages(event(mac="", method_instance="", data_feed_id=None), Priority.LOW, 3, action(),
                             DEFAULTS, UTC)
    assert extension_keys(message) == ["src", "start", "msg", "dst", "cn3", "cn3Label"]


def test_machine_readable_detail_falls_back_to_the_human_one_when_absent():
    options = action(machine_readable_detail=True)
    [message] = cef_messages(event(detail_machine="{Ports:'80'}"), Priority.LOW, 1, options, DEFAULTS, UTC)
    assert extension(message)["msg"] == "{Ports:'80'}"
    [message] = cef_messages(event(detail_machine=""), Priority.LOW, 1, options, DEFAULTS, UTC)
    assert extension(message)["msg"] == "Scanned ports: 80."
    [message] = cef_messages(event(detail_machine="{Ports:'80'}"), Priority.LOW, 1, action(), DEFAULTS, UTC)
    assert extension(message)["msg"] == "Scanned ports: 80."


def test_start_is_written_in_the_given_zone_and_the_mac_in_cef_form():
    detected = datetime(2025, 1, 2, 0, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    [message] = cef_messages(event(detected_at=detected, mac="0C-70-AB-00-00-01"), Priority.LOW, 1, action(),
                             DEFAULTS, UTC)
    assert extension(message)["start"] == "Jan 01 2025 22:30:05"
    assert extension(message)["smac"] == "0c:70:ab:00:00:01"


@pytest.mark.parametrize("priority, severity", [
    (Priority.CRITICAL, "10"), (Priority.HIGH, "8"), (Priority.MEDIUM, "6"), (Priority.LOW, "4"),
    (Priority.INFORMATION, "2"),
])
def test_header_carries_the_configured_product_and_the_cef_severity_of_the_priority(priority, severity):
    settings = SyslogSettings(cef_vendor="Acme", cef_product="ADS Relay", cef_version="1.2")
    [message] = cef_messages(event(), priority, 1, action(), settings, UTC)
    parsed = cefp.parse(message)
    assert (parsed["version"], parsed["device"], parsed["name"], parsed["severity"]) == (
        "0", {"vendor": "Acme", "product": "ADS Relay", "version": "1.2", "event_class_id": "SCANS"},
        "Port scanning", severity)


def test_an_event_type_without_a_name_is_named_by_its_code():
    [message] = cef_messages(event(type="NEWTYPE", type_desc=""), Priority.LOW, 1, action(), DEFAULTS, UTC)
    assert cefp.parse(message)["name"] == "NEWTYPE"


NASTY = ["a|b", "a=b", "key=value other=thing", "back\\slash", "trailing\\", "\\n is not a newline",
         "line one\nline two", "cr\rlf\r\n", " leading and trailing ", "=", "|", "\\", "\\=", "tab\there",
         "ünïcödé ✓", ""]


@pytest.mark.parametrize("text", NASTY)
def test_escaping_round_trips_through_an_independent_parser(text: str):
    settings = SyslogSettings(cef_vendor=f"V{text}", cef_product=f"P{text}", cef_version=f"1{text}")
    nasty = event(detail=text, method_instance=f"mi {text}", type_desc=f"name {text}")
    [message] = cef_messages(nasty, Priority.HIGH, 1, action(), settings, UTC)
    assert "\n" not in message and "\r" not in message
    parsed = cefp.parse(message)
    assert parsed["extension"]["msg"] == text
    assert parsed["extension"]["cs2"] == f"mi {text}"
    assert list(parsed["extension"]) == extension_keys(cef_messages(event(), Priority.HIGH, 1, action(), DEFAULTS,
                                                                    UTC)[0])
    # Header fields cannot hold line breaks (the specification): each becomes a space.
    one_line = re.sub(r"[\r\n]", " ", text)
    assert (parsed["device"]["vendor"], parsed["device"]["product"], parsed["device"]["version"], parsed["name"]) == (
        f"V{one_line}", f"P{one_line}", f"1{one_line}", f"name {one_line}")


def test_escape_functions_follow_the_cef_specification():
    assert escape_header("a|b\\c") == "a\\|b\\\\c"
    assert escape_extension("a=b\\c\nd\re|f") == "a\\=b\\\\c\\nd\\re|f"


# Free text as the input parser lets it through (tab, newline, CR, but no other control character).
# The characters CEF gives a meaning to are drawn often.
free_text = st.text(st.sampled_from(list("|=\\ \n\r")) | st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), *range(0x7F, 0xA0)])))


@given(detail=free_text, method_instance=free_text, type_desc=free_text)
def test_any_free_text_round_trips_and_stays_on_one_line(detail: str, method_instance: str, type_desc: str):
    nasty = event(detail=detail, method_instance=method_instance, type_desc=type_desc)
    for message in cef_messages(nasty, Priority.MEDIUM, 1, action(), DEFAULTS, UTC):
        assert "\n" not in message and "\r" not in message
        parsed = cefp.parse(message)
        assert parsed["extension"]["msg"] == detail
        assert parsed["extension"].get("cs2", "") == method_instance
        assert parsed["name"] == (re.sub(r"[\r\n]", " ", type_desc) or "SCANS")
