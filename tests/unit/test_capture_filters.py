"""The capture filter is built from address objects only: event text that is not an address never
reaches it, whatever it holds."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from streams.capture_agent.filters import MAX_FILTER_HOSTS, canonical_address, event_hosts, host_filter
from streams.events import InputLimits, InvalidEvent, ads_event_from_mapping


def event(source: str = "10.0.0.1", targets: list[str] | None = None):
    return ads_event_from_mapping({"id": 7, "timestamp": "2025-11-03 15:10:43", "type": "SCANS", "source": source,
                                   "targets": targets or []}, InputLimits())


def test_the_filter_matches_each_address_once_in_order():
    addresses = [ipaddress.ip_address(a) for a in ("10.0.0.1", "fd00::1", "10.0.0.1", "192.168.0.2")]
    assert host_filter(addresses) == "host 10.0.0.1 or host fd00::1 or host 192.168.0.2"


def test_ipv6_addresses_are_written_compressed_without_their_zone():
    assert host_filter([ipaddress.ip_address("fe80:0:0:0:0:0:0:1%eth0 or host 1.2.3.4")]) == "host fe80::1"
    assert canonical_address(ipaddress.ip_address("::ffff:10.0.0.1")) == ipaddress.ip_address("::ffff:a00:1")


@pytest.mark.parametrize("value", ["10.0.0.1", b"10.0.0.1", 167772161, None])
def test_only_address_objects_are_accepted(value):
    with pytest.raises(TypeError):
        host_filter([value])


def test_an_empty_filter_is_refused():
    with pytest.raises(ValueError, match="at least one address"):
        host_filter([])


def test_event_hosts_are_the_source_and_targets_without_duplicates():
    hosts, left_out = event_hosts(event("10.0.0.1", ["192.168.0.2", "10.0.0.1", "fd00::2"]))
    assert [str(h) for h in hosts] == ["10.0.0.1", "192.168.0.2", "fd00::2"] and left_out == 0


def test_event_hosts_are_bounded():
    hosts, left_out = event_hosts(event("10.0.0.1", [f"10.1.{n // 256}.{n % 256}" for n in range(150)]))
    assert len(hosts) == MAX_FILTER_HOSTS and left_out == 151 - MAX_FILTER_HOSTS


@pytest.mark.parametrize("text", ["10.0.0.1 or host 10.0.0.9", "10.0.0.1) or (tcp", "10.0.0.1\nhost 10.0.0.9",
                                  "not 10.0.0.1", "$(reboot)", "../../etc/passwd", "10.0.0.1%eth0"])
def test_filter_injection_in_event_fields_is_refused_at_input(text):
    with pytest.raises(InvalidEvent):
        event(text)
    with pytest.raises(InvalidEvent):
        event("10.0.0.1", [text])


@pytest.mark.parametrize("text", ["10.0.0.9 or host 10.0.0.8", "10.0.0.9) or (tcp", "tcp port 22", "",
                                  "fe80::1%eth0 or host 10.0.0.8"])
def test_text_that_is_not_an_address_never_reaches_the_filter(text):
    # As an event read back from an action topic could carry it (only text travels there).
    crafted = dataclasses.replace(event("10.0.0.1", ["10.0.0.2"]), targets=("10.0.0.2", text))
    hosts, _ = event_hosts(crafted)
    expression = host_filter(hosts)
    assert expression.startswith("host 10.0.0.1 or host 10.0.0.2")
    assert "or host 10.0.0.8" not in expression and "tcp" not in expression and "%" not in expression
