"""examples/actions.yaml: it loads, and its two perspectives give exactly the CEF severities of
real ADS output (docs: ads-formats.md, "Two perspectives worth shipping as examples")."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config import load_settings
from streams.event_types import EVENT_TYPE_NAMES
from streams.events import InputLimits, ads_event_from_mapping, ids_event_from_mapping
from streams.priorities import CEF_SEVERITY, Priority
from streams.routing import Router

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "actions.yaml"

# Transcribed from ads-formats.md; SIP* and OT* expanded to the codes they stand for.
SECURITY = {
    10: "BLACKLIST DICTATTACK DIRINET DOS HONEYPOT RDPDICT REFLECTDOS SMTPANOMALY SSHDICT TELNET THREATS TOR UPLOAD",
    8: "ALIENDEV BITTORRENT BPATTERNS COUNTRY DNSANOMALY DOHDET GEODIST HTTPDICT IPV6TUNNEL L3ANOMALY SCANS "
       "SIPFLOOD SIPPROXY SIPSCAN TEAMVIEWER WEBSHARE",
    6: "ANOMALY DHCPANOM DNSQUERY ICMPANOM NATDET PEERS RANDOMDOMAIN VPN",
    4: "DIVCOM HIGHTRANSF SRVNA",
    2: "BROKENSEN MULTICAST VOIP",
}
OPERATIONS = {
    10: "DOS REFLECTDOS SRVNA",
    8: "BROKENSEN DHCPANOM DICTATTACK RDPDICT SMTPANOMALY SSHDICT",
    6: "ALIENDEV BITTORRENT BLACKLIST DIRINET DNSANOMALY DOHDET HIGHTRANSF HONEYPOT ICMPANOM L3ANOMALY "
       "OTCLANOM OTPAANOM OTSMANOM PEERS SCANS SIPFLOOD SIPPROXY TELNET THREATS TOR",
    4: "ANOMALY BPATTERNS COUNTRY DIVCOM DNSQUERY GEODIST HTTPDICT IPV6TUNNEL MULTICAST SIPSCAN TEAMVIEWER UPLOAD "
       "WEBSHARE",
    2: "NATDET RANDOMDOMAIN VOIP VPN",
}


def table(severities: dict[int, str]) -> dict[str, int]:
    by_type = {t: severity for severity, types in severities.items() for t in types.split()}
    assert len(by_type) == sum(len(types.split()) for types in severities.values()), "a type listed twice"
    return by_type


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(load_settings(EXAMPLE))


def event(type_: str, source: str = "203.0.113.9", targets=()):
    # An external source and no targets: no overlapping rule (staff -> dmz) applies.
    return ads_event_from_mapping({"id": 1, "timestamp": "2025-05-14 15:10:28", "type": type_, "source": source,
                                   "targets": list(targets)}, InputLimits())


def test_the_tables_name_only_known_types_and_operations_names_all_of_them():
    assert set(table(SECURITY)) <= set(EVENT_TYPE_NAMES)
    assert set(table(OPERATIONS)) == set(EVENT_TYPE_NAMES)


@pytest.mark.parametrize("perspective, severities", [("security", SECURITY), ("operations", OPERATIONS)])
def test_example_perspective_gives_the_cef_severity_of_real_output(router, perspective, severities):
    expected = table(severities)
    given = {}
    for type_ in EVENT_TYPE_NAMES:
        priority = router.priorities(event(type_))[perspective]
        given[type_] = CEF_SEVERITY[priority] if priority else None
    # Types the table does not list (OT* in security) have no priority there.
    assert given == {type_: expected.get(type_) for type_ in EVENT_TYPE_NAMES}


def test_example_overlapping_rule_raises_staff_scanning_the_dmz(router):
    assert CEF_SEVERITY[router.priorities(event("SCANS", "10.1.2.3", ["192.168.200.10"]))["security"]] == 10
    # Guests are not staff; the DMZ range ends at .60.
    assert CEF_SEVERITY[router.priorities(event("SCANS", "10.99.2.3", ["192.168.200.10"]))["security"]] == 8
    assert CEF_SEVERITY[router.priorities(event("SCANS", "10.1.2.3", ["192.168.200.61"]))["security"]] == 8
    # Operations has no such rule.
    assert CEF_SEVERITY[router.priorities(event("SCANS", "10.1.2.3", ["192.168.200.10"]))["operations"]] == 6


def test_example_actions_receive_what_their_minimal_priority_allows(router):
    assert sorted(r.action for r in router.routes(event("DOS"))) == [
        "noc-traps", "record-attacks", "siem-cef", "sms-gateway", "soc-reports", "soc-tickets"]
    # LOW in security, MEDIUM in operations: only the syslog target; the inactive weekly report never.
    assert sorted(r.action for r in router.routes(event("HIGHTRANSF"))) == ["siem-cef"]
    assert router.routes(event("VOIP")) == []


def test_example_ids_events_reach_no_script_below_critical(router):
    ids = ids_event_from_mapping({"id": 2, "firstSeen": "2025-05-15 06:45:56", "lastSeen": "2025-05-15 06:45:56",
                                  "srcIp": "10.20.20.20", "dstIp": "10.10.10.10"}, InputLimits())
    assert router.priorities(ids) == {"security": Priority.HIGH, "operations": None}
    # HIGH, and the only script (sms-gateway) wants CRITICAL.
    assert router.routes(ids) == []
