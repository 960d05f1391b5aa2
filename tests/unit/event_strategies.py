"""Hypothesis strategies for untrusted input: random JSON, and objects holding every known ADS/IDS
field with either a plausible value or a random one. Shared by the event and trigger property tests."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

# Text that reaches the interesting branches: control characters, separators, non-ASCII,
# surrogate-free (JSON cannot carry lone surrogates through orjson).
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)

json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
# Random nested structures of any shape.
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(_text, children, max_size=5)),
    max_leaves=8,
)

_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(str)
ip_text = st.one_of(
    _ipv4, _ipv6,
    st.sampled_from(["", " ", "10.0.0.256", "::ffff:10.0.0.1", "fe80::1%eth0", "fe80::1%\x01", "1.2.3", "localhost"]),
    _ipv4.map(lambda a: f" {a} "),
)
_datetimes = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
_offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
time_value = st.one_of(
    _datetimes.map(lambda d: d.isoformat(sep=" ", timespec="seconds")),
    st.builds(lambda d, o: d.replace(tzinfo=timezone(o)).isoformat(), _datetimes, _offsets),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "", "2025-02-30 00:00:00",
                     "yesterday", "2025-05-14T15:10:28Z"]),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
priority_word = st.one_of(
    st.sampled_from(["CRITICAL", "high", "Medium", "LOW", "INFORMATION", "informational", "", " ", "URGENT"]),
    _text,
)
type_code = st.one_of(st.sampled_from(["SCANS", "DOS", "HIGHTRANSF", "IDSP", "scans", "", "A" * 33]),
                      st.text("ABCZ019_", min_size=1, max_size=32))
targets_value = st.one_of(
    st.lists(ip_text, max_size=6),
    st.lists(ip_text, max_size=6).map(", ".join),
    st.lists(json_scalars, max_size=4),
)
port_value = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.lists(st.integers(min_value=-5, max_value=70000), max_size=5),
    st.sampled_from(["", "22", "80, 443", "a\nb"]),
)
small_int = st.one_of(st.integers(0, 70000), st.integers(min_value=-(2**63), max_value=2**64 - 1))
technique = st.one_of(st.fixed_dictionaries({}, optional={"code": json_scalars, "name": json_scalars}), json_values)
tactic = st.fixed_dictionaries({}, optional={
    "code": json_scalars, "name": json_scalars, "techniques": st.one_of(st.lists(technique, max_size=3), json_values)})
mitre_value = st.lists(
    st.one_of(st.fixed_dictionaries({}, optional={"tactic": st.one_of(tactic, json_values),
                                                  "version": st.one_of(small_int, json_scalars)}), json_values),
    max_size=3)
flows_value = st.lists(st.one_of(st.dictionaries(_text, json_scalars, max_size=4), json_values), max_size=4)
mac_value = st.one_of(st.sampled_from(["0C:70:00:00:00:00", "0c-70-00-00-00-01", "0C:70:00:00:00", ""]), _text)


def _field(plausible):
    # Mostly plausible values, so the parser gets past the first field; sometimes anything at all.
    return st.one_of(plausible, plausible, json_values)


_ADS_FIELDS = {
    "id": _field(small_int), "timestamp": _field(time_value), "firstFlow": _field(time_value),
    "type": _field(type_code), "typeDesc": _field(_text), "subtype": _field(_text),
    "mitreAttack": _field(mitre_value), "perspective": _field(_text), "priority": _field(priority_word),
    "severity": _field(priority_word), "detail": _field(_text), "port": _field(port_value),
    "ports": _field(port_value), "protocol": _field(_text), "source": _field(ip_text),
    "capturedSource": _field(_text), "targets": _field(targets_value), "dataFeed": _field(_text),
    "netFlowSource": _field(_text), "dataFeedId": _field(small_int), "methodInstance": _field(_text),
    "mac": _field(mac_value), "userIdentity": _field(_text), "flows": _field(flows_value),
    "update": _field(st.booleans()),
}
_IDS_FIELDS = {
    "id": _field(small_int), "firstSeen": _field(time_value), "lastSeen": _field(time_value),
    "srcIp": _field(ip_text), "srcPort": _field(small_int), "dstIp": _field(ip_text), "dstPort": _field(small_int),
    "protocol": _field(_text), "signatureId": _field(small_int), "signatureName": _field(_text),
    "logSourceIp": _field(ip_text), "logSourceInterface": _field(_text), "category": _field(_text),
    "severity": _field(_text), "update": _field(st.booleans()),
}
_REQUIRED_ADS = ("id", "timestamp", "type", "source")
_REQUIRED_IDS = ("id", "firstSeen", "lastSeen", "srcIp", "dstIp")


def _objects(fields: dict, required: tuple[str, ...], plausible: dict):
    # Required fields are usually present and plausible so that most examples reach the optional
    # ones; unknown extra keys ride along. The second branch leaves out and scrambles anything.
    complete = st.builds(
        lambda base, optional, extra: {**extra, **base, **optional},
        st.fixed_dictionaries({name: plausible[name] for name in required}),
        st.fixed_dictionaries({}, optional={k: v for k, v in fields.items() if k not in required}),
        st.dictionaries(_text, json_values, max_size=2),
    )
    return st.one_of(complete, complete, complete, st.fixed_dictionaries({}, optional=fields))


# Required fields: valid most of the time, so the optional fields behind them get parsed too.
_valid_id = st.one_of(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1), small_int)
_valid_ip = st.one_of(_ipv4, _ipv6, ip_text)
_valid_time = st.one_of(_datetimes.map(lambda d: d.isoformat(sep=" ", timespec="seconds")), time_value)
ads_objects = _objects(_ADS_FIELDS, _REQUIRED_ADS, {
    "id": _valid_id, "timestamp": _valid_time, "type": type_code, "source": _valid_ip})
ids_objects = _objects(_IDS_FIELDS, _REQUIRED_IDS, {
    "id": _valid_id, "firstSeen": _valid_time, "lastSeen": _valid_time, "srcIp": _valid_ip, "dstIp": _valid_ip})


def is_plain_address(text: str) -> bool:
    address = ipaddress.ip_address(text)
    return str(address) == text and "%" not in text


# Valid events only (every field optional but well-formed): for properties about what happens to
# accepted events (routing, encoding), which random values reach only now and then.
_safe_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
_valid_times = _datetimes.map(lambda d: d.isoformat(sep=" ", timespec="seconds"))
_valid_targets = st.one_of(st.lists(st.one_of(_ipv4, _ipv6), max_size=4),
                           st.lists(_ipv4, max_size=4).map(", ".join))
valid_ads_objects = st.fixed_dictionaries(
    {"id": st.integers(0, 2**63 - 1), "timestamp": _valid_times, "source": st.one_of(_ipv4, _ipv6),
     "type": st.sampled_from(["SCANS", "DOS", "HIGHTRANSF", "TOR", "VOIP", "NEWTYPE_1"])},
    optional={
        "firstFlow": _valid_times, "typeDesc": _safe_text, "subtype": st.sampled_from(["", "General", "Slow"]),
        "mitreAttack": st.lists(st.fixed_dictionaries({}, optional={
            "tactic": st.fixed_dictionaries({}, optional={
                "code": _safe_text, "name": _safe_text,
                "techniques": st.lists(st.fixed_dictionaries({}, optional={"code": _safe_text, "name": _safe_text}),
                                       max_size=2)}),
            "version": st.integers(0, 2**31 - 1)}), max_size=2),
        "perspective": _safe_text, "severity": st.sampled_from(["", "HIGH", "informational", "Low"]),
        "detail": _safe_text, "port": st.one_of(st.integers(0, 65535), st.lists(st.integers(0, 65535), max_size=3)),
        "protocol": st.sampled_from(["TCP", "UDP", ""]), "capturedSource": _safe_text, "targets": _valid_targets,
        "netFlowSource": st.sampled_from(["", "Default", "Core"]), "dataFeedId": st.integers(0, 2**63 - 1),
        "methodInstance": st.sampled_from(["", "fast", "slow"]), "mac": st.just("0C:70:00:00:00:00"),
        "userIdentity": _safe_text, "flows": st.lists(st.dictionaries(_safe_text, _safe_text, max_size=2), max_size=2),
        "update": st.booleans(),
    })
valid_ids_objects = st.fixed_dictionaries(
    {"id": st.integers(0, 2**63 - 1), "firstSeen": _valid_times, "lastSeen": _valid_times,
     "srcIp": st.one_of(_ipv4, _ipv6), "dstIp": st.one_of(_ipv4, _ipv6)},
    optional={"srcPort": st.integers(0, 65535), "dstPort": st.integers(0, 65535), "protocol": st.just("UDP"),
              "signatureId": st.integers(0, 2**63 - 1), "signatureName": _safe_text, "logSourceIp": _ipv4,
              "logSourceInterface": st.just("eth0"), "category": _safe_text, "severity": st.just("2"),
              "update": st.booleans()})
