"""Perspectives and routing: rule matching on type, subtype, method instance, source and target
filters and data feed; highest matching priority wins; routes only to active actions at or above
their minimal priority; IDS events only to scripts; message keys."""

from __future__ import annotations

from textwrap import dedent, indent

import pytest

from streams.config import parse_settings
from streams.events import InputLimits, ads_event_from_mapping, ids_event_from_mapping
from streams.priorities import Priority
from streams.routing import Route, Router

FILTERS = dedent("""\
    filters:
      internal: [10.0.0.0/8, "fd00::/8"]
      dmz: [192.168.200.10-192.168.200.60, "2001:db8:200::/48"]
      guests: [10.99.0.0/16]
      staff: {difference: [internal, guests]}
      external: {not: internal}
""")


def router(perspectives: str, actions: str = "", filters: str = FILTERS) -> Router:
    return Router(parse_settings(filters + "perspectives:\n" + indent(dedent(perspectives), "  ") + dedent(actions)))


def ads(type_: str = "SCANS", source: str = "10.1.1.1", targets=(), **fields):
    return ads_event_from_mapping({"id": fields.pop("id", 42), "timestamp": "2025-05-14 15:10:28", "type": type_,
                                   "source": source, "targets": targets if isinstance(targets, str) else list(targets),
                                   **fields}, InputLimits())


def ids(src: str = "10.1.1.1", dst: str = "192.168.200.20", id_: int = 7):
    return ids_event_from_mapping({"id": id_, "firstSeen": "2025-05-15 06:45:56", "lastSeen": "2025-05-15 06:45:56",
                                   "srcIp": src, "dstIp": dst, "signatureName": "ET INFO test"}, InputLimits())


def priority(r: Router, event, perspective: str = "p"):
    return r.priorities(event)[perspective]


# --- rule matching ---------------------------------------------------------------------------------

def test_rule_matches_on_event_type_only_when_nothing_else_is_set():
    r = router("""\
      p:
        id: 1
        rules:
          - {types: [SCANS, DOS], priority: HIGH}
    """)
    assert priority(r, ads("SCANS")) is Priority.HIGH
    assert priority(r, ads("DOS", source="2001:db8::1", subtype="x", methodInstance="m", netFlowSource="f")) is Priority.HIGH
    # An event no rule matches has no priority in the perspective.
    assert priority(r, ads("TOR")) is None


@pytest.mark.parametrize("field, rule_key, matching, other", [
    ("subtype", "subtypes", "Slow", "Fast"),
    ("methodInstance", "method_instances", "scans-dmz", "scans-core"),
    ("netFlowSource", "data_feeds", "Core", "Edge"),
    ("dataFeed", "data_feeds", "Core", "Edge"),
])
def test_rule_restricted_to_subtype_method_instance_or_data_feed(field, rule_key, matching, other):
    r = router(f"""\
      p:
        id: 1
        rules:
          - {{types: [SCANS], priority: CRITICAL, {rule_key}: [{matching}, Another]}}
    """)
    assert priority(r, ads(**{field: matching})) is Priority.CRITICAL
    assert priority(r, ads(**{field: "Another"})) is Priority.CRITICAL
    assert priority(r, ads(**{field: other})) is None
    # An event without the attribute does not match a rule that requires it.
    assert priority(r, ads()) is None


def test_rule_without_data_feed_matches_any_feed():
    r = router("""\
      p:
        id: 1
        rules:
          - {types: [SCANS], priority: LOW}
    """)
    assert {priority(r, ads(netFlowSource=feed)) for feed in ("", "Default", "Core")} == {Priority.LOW}


def test_source_filter_with_boundaries_and_differences():
    r = router("""\
      p:
        id: 1
        rules:
          - {types: [SCANS], priority: HIGH, source: staff}
    """)
    assert priority(r, ads(source="10.0.0.0")) is Priority.HIGH
    assert priority(r, ads(source="10.98.255.255")) is Priority.HIGH
    assert priority(r, ads(source="10.99.0.0")) is None  # guests are not staff
    assert priority(r, ads(source="10.99.255.255")) is None
    assert priority(r, ads(source="10.100.0.0")) is Priority.HIGH
    assert priority(r, ads(source="11.0.0.0")) is None
    assert priority(r, ads(source="fd00::1")) is Priority.HIGH


def test_inverted_filter_as_source():
    r = router("""\
      p:
        id: 1
        rules:
          - {types: [DOS], priority: CRITICAL, source: external}
    """)
    assert priority(r, ads("DOS", source="8.8.8.8")) is Priority.CRITICAL
    assert priority(r, ads("DOS", source="2001:db8::1")) is Priority.CRITICAL
    assert priority(r, ads("DOS", source="10.0.0.1")) is None
    assert priority(r, ads("DOS", source="fd12::1")) is None


def test_target_filter_matches_when_any_target_is_in_it():
    r = router("""\
      p:
        id: 1
        rules:
          - {types: [SCANS], priority: HIGH, target: dmz}
    """)
    assert priority(r, ads(targets=["8.8.8.8", "192.168.200.60"])) is Priority.HIGH
    assert priority(r, ads(targets="192.168.200.10")) is Priority.HIGH
    assert priority(r, ads(targets=["2001:db8:200:ffff::1"])) is Priority.HIGH
    assert priority(r, ads(targets=["192.168.200.9", "192.168.200.61", "8.8.8.8"])) is None
    # No targets: a target-restricted rule cannot match.
    assert priority(r, ads(targets=[])) is None


def test_all_conditions_of_a_rule_must_hold():
    r = router("""\
      p:
        id: 1
        rules:
          - types: [SCANS]
            priority: CRITICAL
            subtypes: [Slow]
            method_instances: [dmz-watch]
            data_feeds: [Core]
            source: staff
            target: dmz
    """)
    full = dict(subtype="Slow", methodInstance="dmz-watch", netFlowSource="Core", source="10.1.1.1",
                targets=["192.168.200.20"])
    assert priority(r, ads(**full)) is Priority.CRITICAL
    for field, wrong in [("subtype", "Fast"), ("methodInstance", "other"), ("netFlowSource", "Edge"),
                         ("source", "10.99.1.1"), ("targets", ["192.168.201.1"])]:
        assert priority(r, ads(**{**full, field: wrong})) is None, field


# --- conflicts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["general first", "specific first"])
def test_highest_matching_priority_wins_whatever_the_rule_order(order):
    general = "- {types: [SCANS], priority: LOW}"
    specific = "- {types: [SCANS], priority: CRITICAL, source: staff, target: dmz}"
    middle = "- {types: [SCANS, DOS], priority: MEDIUM, target: dmz}"
    rules = [general, middle, specific] if order == "general first" else [specific, middle, general]
    r = router("  p:\n    id: 1\n    rules:\n" + "".join(f"      {rule}\n" for rule in rules))
    assert priority(r, ads(source="10.1.1.1", targets=["192.168.200.20"])) is Priority.CRITICAL
    # Guests scanning the DMZ: the CRITICAL rule does not match, MEDIUM is the highest that does.
    assert priority(r, ads(source="10.99.1.1", targets=["192.168.200.20"])) is Priority.MEDIUM
    assert priority(r, ads(source="10.1.1.1", targets=["8.8.8.8"])) is Priority.LOW
    assert priority(r, ads("DOS", source="10.1.1.1", targets=["8.8.8.8"])) is None


def test_perspectives_give_priorities_independently():
    r = router("""\
      security:
        id: 1
        rules:
          - {types: [SCANS], priority: HIGH}
          - {types: [VOIP], priority: INFORMATION}
      operations:
        id: 2
        rules:
          - {types: [SCANS], priority: LOW}
          - {types: [SRVNA], priority: CRITICAL}
    """)
    assert r.priorities(ads("SCANS")) == {"security": Priority.HIGH, "operations": Priority.LOW}
    assert r.priorities(ads("SRVNA")) == {"security": None, "operations": Priority.CRITICAL}
    assert r.priorities(ads("VOIP")) == {"security": Priority.INFORMATION, "operations": None}


# --- routes ----------------------------------------------------------------------------------------

ACTIONS = """\
snmp:
  target_groups:
    noc: [{address: 127.0.0.1}]
capture: {token: "0123456789abcdef"}
actions:
  email:
    - {name: soc-mail, perspective: security, min_priority: HIGH, recipients: [soc@example.org]}
    - {name: off-mail, perspective: security, min_priority: INFORMATION, active: false,
       recipients: [soc@example.org]}
  syslog:
    - {name: siem, perspective: security, min_priority: LOW}
  snmp:
    - {name: noc-traps, perspective: operations, min_priority: MEDIUM, target_groups: [noc]}
  script:
    - {name: sec-script, perspective: security, min_priority: CRITICAL, script: sms.sh}
    - {name: ops-script, perspective: operations, script: ops.sh}
  capture:
    - {name: pcap, perspective: security, min_priority: HIGH, group: 1,
       agent: {url: "https://sensor-1:9465", token: "0123456789abcdef"}}
"""
PERSPECTIVES = """\
  security:
    id: 10
    rules:
      - {types: [DOS], priority: CRITICAL}
      - {types: [SCANS], priority: HIGH}
      - {types: [TOR], priority: LOW}
      - {types: [IDSP], priority: CRITICAL, target: dmz}
  operations:
    id: 20
    rules:
      - {types: [DOS, SCANS], priority: MEDIUM}
      - {types: [IDSP], priority: LOW}
"""


def names(routes: list[Route]) -> list[str]:
    return sorted(route.action for route in routes)


def test_routes_go_to_active_actions_whose_minimal_priority_is_reached():
    r = router(PERSPECTIVES, ACTIONS)
    # CRITICAL in security reaches every active security action; MEDIUM in operations reaches both.
    assert names(r.routes(ads("DOS"))) == ["noc-traps", "ops-script", "pcap", "sec-script", "siem", "soc-mail"]
    # HIGH: not the CRITICAL-only script.
    assert names(r.routes(ads("SCANS"))) == ["noc-traps", "ops-script", "pcap", "siem", "soc-mail"]
    # LOW in security only: the syslog target (min LOW), never the inactive email report.
    assert names(r.routes(ads("TOR"))) == ["siem"]
    assert r.routes(ads("VOIP")) == []


def test_route_carries_kind_topic_perspective_and_priority():
    r = router(PERSPECTIVES, ACTIONS + "topics:\n  actions: {syslog: my.syslog}\n")
    by_action = {route.action: route for route in r.routes(ads("SCANS"))}
    assert by_action["siem"] == Route("syslog", "my.syslog", "siem", "security", 10, Priority.HIGH)
    assert by_action["noc-traps"] == Route("snmp", "ads.action.snmp", "noc-traps", "operations", 20, Priority.MEDIUM)
    assert by_action["pcap"].topic == "ads.action.capture"
    assert by_action["soc-mail"].topic == "ads.action.email"


def test_routes_use_the_priorities_given_by_the_caller():
    r = router(PERSPECTIVES, ACTIONS)
    event = ads("TOR")
    assert names(r.routes(event, {"security": Priority.CRITICAL, "operations": None})) == [
        "pcap", "sec-script", "siem", "soc-mail"]


def test_ids_events_are_routed_only_to_script_actions():
    r = router(PERSPECTIVES, ACTIONS)
    event = ids(dst="192.168.200.20")
    assert r.priorities(event) == {"security": Priority.CRITICAL, "operations": Priority.LOW}
    routes = r.routes(event)
    assert [(route.kind, route.action) for route in sorted(routes, key=lambda x: x.action)] == [
        ("script", "ops-script"), ("script", "sec-script")]
    # The target filter applies to the IDS destination address.
    assert r.priorities(ids(dst="8.8.8.8")) == {"security": None, "operations": Priority.LOW}
    assert names(r.routes(ids(dst="8.8.8.8"))) == ["ops-script"]


def test_ids_source_filter_applies_to_the_ids_source_address():
    r = router("""\
      p:
        id: 1
        rules:
          - {types: [IDSP], priority: HIGH, source: guests}
    """)
    assert priority(r, ids(src="10.99.0.1")) is Priority.HIGH
    assert priority(r, ids(src="10.1.0.1")) is None


def test_perspective_without_actions_routes_nowhere():
    r = router(PERSPECTIVES)
    assert r.routes(ads("DOS")) == []


# --- message keys ----------------------------------------------------------------------------------

def test_email_messages_are_keyed_by_report_and_priority_others_by_action_and_event():
    event = ads("DOS", id=123456)
    email = Route("email", "t", "soc-mail", "security", 1, Priority.HIGH)
    script = Route("script", "t", "sms", "security", 1, Priority.CRITICAL)
    assert email.message_key(event) == b"soc-mail|HIGH"
    assert script.message_key(event) == b"sms|123456"
    assert Route("syslog", "t", "siem", "security", 1, Priority.LOW).message_key(ids(id_=9)) == b"siem|9"
