"""The syslog sink against a real rsyslogd on loopback (UDP, TCP, TLS): what rsyslog parsed
(facility, severity, header, message) for every priority and option, and the outcomes when the
receiver is down, comes up, restarts, does not read, or does not trust us.

Each test marks its events with a token of its own (the method instance) and picks its records
by it: the module's receiver is shared. Nothing here measures time: output is polled with a
generous deadline."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import cefp
import pytest
from prometheus_client import CollectorRegistry

from sinks.base import Delivery, Outcome
from sinks.cef import cef_messages
from sinks.metrics import SinkMetrics
from sinks.syslog import SyslogSink
from streams.config import Settings, SyslogAction, SyslogTarget, TlsClientSettings
from streams.events import AdsEvent, IdsEvent, InputLimits, ads_event_from_mapping
from streams.priorities import Priority
from streams.receivers.rsyslog import PrivateRsyslog, SyslogRecord

SETTINGS = Settings.model_validate({
    "perspectives": {"security": {"id": 7, "rules": [{"types": ["SCANS"], "priority": "HIGH"}]}},
    "syslog": {"hostname": "ads-test"},
})
# The seed's table, and the PRI it gives on local6 (22 * 8 + severity).
SEVERITIES = {Priority.CRITICAL: ("alert", 177), Priority.HIGH: ("crit", 178), Priority.MEDIUM: ("err", 179),
              Priority.LOW: ("warning", 180), Priority.INFORMATION: ("notice", 181)}
TRANSPORTS = ("udp", "tcp", "tls")


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory):
    with PrivateRsyslog(tmp_path_factory.mktemp("rsyslog"), tls=True) as receiver:
        yield receiver


def new_token() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def target_of(receiver: PrivateRsyslog, transport: str, **options: Any) -> SyslogTarget:
    port = {"udp": receiver.udp_port, "tcp": receiver.tcp_port, "tls": receiver.tls_port}[transport]
    tls = TlsClientSettings(ca_file=str(receiver.ca_file), server_name="localhost") if transport == "tls" else None
    return SyslogTarget(host="127.0.0.1", port=port, transport=transport, **({"tls": tls} if tls else {}), **options)


def syslog_action(target: SyslogTarget, **options: Any) -> SyslogAction:
    return SyslogAction(name="siem", perspective="security", target=target, **options)


def sink_of(action: SyslogAction) -> SyslogSink:
    return SyslogSink(action, SETTINGS, SinkMetrics(CollectorRegistry()))


def ads_event(token: str, event_id: int = 1, **fields: Any) -> AdsEvent:
    mapping = {"id": event_id, "timestamp": "2025-11-03 15:10:43", "type": "SCANS", "source": "10.0.0.1",
               "mac": "0c:70:00:00:00:00", "targets": ["192.168.0.2"], "detail": f"event {event_id}",
               "methodInstance": token, "dataFeedId": 1, **fields}
    return ads_event_from_mapping(mapping, InputLimits())


def delivery(event: AdsEvent | IdsEvent, priority: Priority = Priority.HIGH, offset: int = 0) -> Delivery:
    return Delivery(action="siem", kind="syslog", perspective="security", perspective_id=7, priority=priority,
                    routed_at=datetime.now(timezone.utc), event=event, topic="ads.action.syslog", partition=0,
                    offset=offset, key=None, value=b"")


async def deliver_batches(sink: SyslogSink, *batches: Sequence[Delivery]) -> list[list[Outcome]]:
    await sink.start()
    try:
        return [await sink.deliver(batch) for batch in batches]
    finally:
        await sink.stop()


def records_of(receiver: PrivateRsyslog, token: str, count: int) -> list[SyslogRecord]:
    return receiver.wait_for_records(count, match=lambda record: token in record.msg)


def extension(record: SyslogRecord) -> dict[str, str]:
    return cefp.parse(record.msg)["extension"]


def reasons(outcomes: Sequence[Outcome]) -> list[str | None]:
    return [outcome and outcome.reason for outcome in outcomes]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_priority_arrives_on_local6_with_its_severity(rsyslog: PrivateRsyslog, transport: str):
    token = new_token()
    action = syslog_action(target_of(rsyslog, transport))
    events = {priority: ads_event(token, int(priority), detail=f"priority {priority.name}") for priority in Priority}
    [outcomes] = asyncio.run(deliver_batches(sink_of(action), [delivery(e, p) for p, e in events.items()]))
    assert outcomes == [None] * 5
    records = records_of(rsyslog, token, 5)
    assert len(records) == 5
    for record in records:
        priority = Priority[extension(record)["msg"].removeprefix("priority ")]
        [expected] = cef_messages(events[priority], priority, 7, action, SETTINGS.syslog, timezone.utc)
        assert (record.input, record.facility, (record.severity, record.pri)) == (
            transport, "local6", SEVERITIES[priority])
        assert (record.protocol_version, record.hostname, record.app_name, record.procid) == (
            0, "ads-test", "ADS", str(os.getpid()))
        assert record.msg == expected


def test_without_priority_as_severity_every_message_has_the_fixed_severity(rsyslog: PrivateRsyslog):
    token = new_token()
    action = syslog_action(target_of(rsyslog, "tcp"), priority_as_severity=False, severity="warning")
    batch = [delivery(ads_event(token, n), priority, n) for n, priority in enumerate(Priority)]
    [outcomes] = asyncio.run(deliver_batches(sink_of(action), batch))
    assert outcomes == [None] * 5
    records = records_of(rsyslog, token, 5)
    assert [(r.facility, r.severity) for r in records] == [("local6", "warning")] * 5
    assert sorted(cefp.parse(r.msg)["severity"] for r in records) == ["10", "2", "4", "6", "8"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_divided_events_arrive_as_single_target_messages_then_one_list(rsyslog: PrivateRsyslog, transport: str):
    token = new_token()
    targets = [f"192.168.1.{n}" for n in range(1, 11)]
    action = syslog_action(target_of(rsyslog, transport), divide_by_targets=True, max_messages_per_event=5)
    [outcomes] = asyncio.run(deliver_batches(sink_of(action), [delivery(ads_event(token, targets=targets))]))
    assert outcomes == [None]
    records = records_of(rsyslog, token, 6)
    assert len(records) == 6
    fields = sorted((extension(r) for r in records), key=lambda f: "cs4" in f)  # UDP may reorder
    assert sorted(f["dst"] for f in fields[:5]) == sorted(targets[:5])
    assert (fields[5]["cs4"], fields[5]["cs4Label"]) == (", ".join(targets[5:]), "dstIPv4list")
    assert all("cs4" not in f for f in fields[:5]) and "dst" not in fields[5]


def test_undivided_events_arrive_as_one_message_with_the_target_list(rsyslog: PrivateRsyslog):
    token = new_token()
    targets = [f"fe80::{n}" for n in range(1, 11)]
    action = syslog_action(target_of(rsyslog, "tcp"))
    [outcomes] = asyncio.run(deliver_batches(sink_of(action), [delivery(ads_event(token, targets=targets))]))
    assert outcomes == [None]
    [record] = records_of(rsyslog, token, 1)
    assert (extension(record)["cs6"], extension(record)["cs6Label"]) == (", ".join(targets), "dstIPv6list")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_detail_with_line_breaks_stays_one_record(rsyslog: PrivateRsyslog, transport: str):
    token = new_token()
    detail = "line one\nline two\r\nkey=value | pipe \\ backslash, ünïcödé ✓"
    action = syslog_action(target_of(rsyslog, transport))
    [outcomes] = asyncio.run(deliver_batches(sink_of(action), [delivery(ads_event(token, detail=detail))]))
    assert outcomes == [None]
    records = records_of(rsyslog, token, 1)
    assert len(records) == 1
    # rsyslog writes a control character it receives as #ooo: none arrived.
    assert "#012" not in records[0].raw and "#015" not in records[0].raw
    assert extension(records[0])["msg"] == detail
    assert extension(records[0])["cs2"] == token


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rfc5424_framing_is_parsed_by_rsyslog(rsyslog: PrivateRsyslog, transport: str):
    token = new_token()
    action = syslog_action(target_of(rsyslog, transport, framing="rfc5424"), use_event_id=True)
    event = ads_event(token, 99)
    [outcomes] = asyncio.run(deliver_batches(sink_of(action), [delivery(event, Priority.MEDIUM)]))
    assert outcomes == [None]
    [record] = records_of(rsyslog, token, 1)
    [expected] = cef_messages(event, Priority.MEDIUM, 7, action, SETTINGS.syslog, timezone.utc)
    assert (record.protocol_version, record.facility, record.severity, record.hostname, record.app_name,
            record.procid, record.msg) == (1, "local6", "err", "ads-test", "ADS", str(os.getpid()), expected)
    assert datetime.fromisoformat(record.timestamp).utcoffset() == timedelta(0)
    assert extension(record)["cn1"] == "99"


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tcp_receiver_down_then_up_then_restarted(tmp_path: Path):
    """Down: the batch fails (one connection attempt). Up: delivered. Restarted between batches:
    the sink notices the closed connection and reconnects, so nothing is written into it."""
    port = free_tcp_port()
    receiver = PrivateRsyslog(tmp_path, tcp_port=port)
    token = new_token()
    sink = sink_of(syslog_action(SyslogTarget(host="127.0.0.1", port=port, transport="tcp")))

    def batch(first_id: int) -> list[Delivery]:
        return [delivery(ads_event(token, n), offset=n) for n in range(first_id, first_id + 3)]

    async def scenario() -> tuple[list[Outcome], ...]:
        await sink.start()
        try:
            down = await sink.deliver(batch(1))
            await asyncio.to_thread(receiver.start)
            up = await sink.deliver(batch(1))
            await asyncio.to_thread(receiver.stop)
            await asyncio.to_thread(receiver.start)
            restarted = await sink.deliver(batch(4))
            return down, up, restarted
        finally:
            await sink.stop()

    try:
        down, up, restarted = asyncio.run(scenario())
        assert reasons(down) == ["connection_refused"] * 3
        assert all(not outcome.permanent for outcome in down)
        assert up == [None] * 3 and restarted == [None] * 3
        records = records_of(receiver, token, 6)
        assert sorted(extension(r)["msg"] for r in records) == [f"event {n}" for n in range(1, 7)]
    finally:
        receiver.stop()


def test_a_receiver_that_does_not_read_times_out():
    """A listener that never accepts: the kernel buffers fill, the write waits, the timeout ends it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        target = SyslogTarget(host="127.0.0.1", port=listener.getsockname()[1], transport="tcp", timeout=0.5)
        action = syslog_action(target, divide_by_targets=True, max_messages_per_event=2000)
        # 2000 messages of some 10 kB each: far more than socket buffers hold.
        event = ads_event(new_token(), targets=[f"10.1.{n // 250}.{n % 250}" for n in range(2000)], detail="x" * 10_000)
        [outcomes] = asyncio.run(deliver_batches(sink_of(action), [delivery(event), delivery(event)]))
    assert reasons(outcomes) == ["timeout", "timeout"]


def test_tls_fails_when_the_receiver_certificate_is_not_trusted(rsyslog: PrivateRsyslog):
    untrusting = SyslogTarget(host="127.0.0.1", port=rsyslog.tls_port, transport="tls")  # the system CAs only
    [outcomes] = asyncio.run(deliver_batches(sink_of(syslog_action(untrusting)), [delivery(ads_event(new_token()))]))
    assert reasons(outcomes) == ["tls_error"]
    token = new_token()
    unverified = SyslogTarget(host="127.0.0.1", port=rsyslog.tls_port, transport="tls",
                              tls=TlsClientSettings(verify=False))
    [outcomes] = asyncio.run(deliver_batches(sink_of(syslog_action(unverified)), [delivery(ads_event(token))]))
    assert outcomes == [None]
    assert len(records_of(rsyslog, token, 1)) == 1


def test_deliveries_that_cannot_be_sent_fail_alone(rsyslog: PrivateRsyslog):
    """Failures of one delivery (an IDS event, a message too large for a datagram) are permanent
    and do not stop the batch."""
    token = new_token()
    ids_event = IdsEvent(id=5, first_seen=datetime.now(timezone.utc), last_seen=datetime.now(timezone.utc),
                         src_ip="10.0.0.1", dst_ip="10.0.0.2")
    too_large = dataclasses.replace(ads_event(token, 1), detail="x" * 70_000)  # a datagram holds 65507 bytes
    batch = [delivery(ids_event), delivery(too_large), delivery(ads_event(token, 2))]
    [outcomes] = asyncio.run(deliver_batches(sink_of(syslog_action(target_of(rsyslog, "udp"))), batch))
    assert reasons(outcomes) == ["unsupported_event", "message_too_large", None]
    assert outcomes[0].permanent and outcomes[1].permanent
    [record] = records_of(rsyslog, token, 1)
    assert extension(record)["msg"] == "event 2"
