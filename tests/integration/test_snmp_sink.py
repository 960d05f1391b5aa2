"""The SNMP sink against a real snmptrapd that loads ADS-ACTIONS-MIB: what it logged, by name, for
SNMPv1 and v2c traps, v2c informs and v3 authPriv traps and informs; informs nobody acknowledges,
or only with a response to another request; and a retry after a partial failure reaching only the
destination that failed."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import pytest
from prometheus_client import CollectorRegistry
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from sinks.base import Delivery, DeliveryFailed, Outcome
from sinks.metrics import SinkMetrics
from sinks.snmp import SnmpSink, _PartialDeliveries, sender_engine_id
from streams.config import Settings
from streams.events import AdsEvent, InputLimits, ads_event_from_mapping
from streams.priorities import Priority
from streams.receivers.mibs import mib_dirs
from streams.receivers.snmptrapd import Notification, PrivateSnmptrapd, SnmptrapdUser, free_udp_port

MIB = "ADS-ACTIONS-MIB::"
ENGINE_ID = "80001f8805a1b2c3d4e5f60718"
USER = {"name": "ads-sender", "auth_key": "auth-key-123", "priv_key": "priv-key-456"}
# Short, so that an unacknowledged inform fails fast: these bound the test's duration, not a result.
QUICK_INFORM = {"timeout": "0.3s", "retries": 1}


def event(event_id: int, **fields: Any) -> AdsEvent:
    obj = {
        "id": event_id,
        "timestamp": "2025-05-14 15:10:28",
        "firstFlow": "2025-05-14 14:58:55",
        "type": "SSHDICT",
        "subtype": "password",
        "detail": "Attempts: 320, successful: 0\nusers: root, admin",
        "port": "22",
        "protocol": "TCP",
        "source": "192.0.2.10",
        "capturedSource": "bastion",
        "targets": ["198.51.100.1", "198.51.100.2"],
        "netFlowSource": "Default",
        "methodInstance": "sshdict-1",
        "userIdentity": "mallory",
        **fields,
    }
    return ads_event_from_mapping(obj, InputLimits())


def delivery(ads_event: AdsEvent, action: str = "snmp-traps") -> Delivery:
    return Delivery(action=action, kind="snmp", perspective="Security", perspective_id=7, priority=Priority.HIGH,
                    routed_at=datetime.now(timezone.utc), event=ads_event, topic="ads.action.snmp", partition=0,
                    offset=ads_event.id, key=None, value=b"")


def settings(*destinations: dict[str, Any]) -> Settings:
    return Settings.model_validate({
        "perspectives": {"Security": {"id": 7, "rules": [{"types": ["SSHDICT"], "priority": "HIGH"}]}},
        "snmp": {"engine_id": ENGINE_ID, "target_groups": {"receivers": list(destinations)}},
        "actions": {"snmp": [{"name": "snmp-traps", "perspective": "Security", "target_groups": ["receivers"]}]},
    })


def new_sink(config: Settings) -> SnmpSink:
    return SnmpSink(config.actions.snmp[0], config, SinkMetrics(CollectorRegistry()))


async def deliver_all(sink: SnmpSink, *batches: Sequence[Delivery]) -> list[list[Outcome]]:
    await sink.start()
    try:
        return [await sink.deliver(batch) for batch in batches]
    finally:
        await sink.stop()


def deliver(config: Settings, *deliveries: Delivery) -> list[Outcome]:
    return asyncio.run(deliver_all(new_sink(config), deliveries))[0]


def of_event(found: list[Notification], event_id: int) -> list[Notification]:
    return [n for n in found if n.values.get(f"{MIB}adsEventId.0") == str(event_id)]


@pytest.fixture
def receiver(tmp_path: Path):
    user = SnmptrapdUser(USER["name"], USER["auth_key"], USER["priv_key"], sender_engine_id=ENGINE_ID)
    with PrivateSnmptrapd(tmp_path / "snmptrapd", mib_dirs(), v3_users=[user]) as running:
        yield running


def assert_event_fields(notification: Notification, event_id: int) -> None:
    values = notification.values
    assert notification.notification == f"{MIB}adsEventNotification"
    assert values[f"{MIB}adsEventId.0"] == str(event_id)
    assert values[f"{MIB}adsEventDetectionTime.0"] == "2025-5-14,15:10:28.0,+0:0"
    assert values[f"{MIB}adsEventFirstFlowTime.0"] == "2025-5-14,14:58:55.0,+0:0"
    assert values[f"{MIB}adsEventType.0"] == "SSHDICT"
    assert values[f"{MIB}adsEventTypeDescription.0"] == "SSH attack"
    assert values[f"{MIB}adsEventSubtype.0"] == "password"
    assert values[f"{MIB}adsEventPerspective.0"] == "Security"
    assert values[f"{MIB}adsEventPerspectiveId.0"] == "7"
    assert values[f"{MIB}adsEventPriority.0"] == "high(4)"
    assert values[f"{MIB}adsEventDetail.0"] == "Attempts: 320, successful: 0\nusers: root, admin"
    assert values[f"{MIB}adsEventPorts.0"] == "22"
    assert values[f"{MIB}adsEventProtocol.0"] == "TCP"
    assert values[f"{MIB}adsEventSource.0"] == "192.0.2.10"
    assert values[f"{MIB}adsEventCapturedSource.0"] == "bastion"
    assert values[f"{MIB}adsEventTargetCount.0"] == "2"
    assert values[f"{MIB}adsEventTargets.0"] == "198.51.100.1,198.51.100.2"
    assert values[f"{MIB}adsEventDataFeed.0"] == "Default"
    assert values[f"{MIB}adsEventUserIdentity.0"] == "mallory"
    assert values[f"{MIB}adsEventMethodInstance.0"] == "sshdict-1"


def test_v1_trap_with_the_agent_address_of_the_sender(receiver: PrivateSnmptrapd):
    config = settings({"address": "127.0.0.1", "port": receiver.port, "version": "v1"})
    assert deliver(config, delivery(event(101))) == [None]
    [notification] = of_event(receiver.wait_for(lambda found: of_event(found, 101)), 101)
    assert (notification.version, notification.security_name) == ("v1", "public")
    assert notification.agent_address == "127.0.0.1"
    assert notification.enterprise == f"{MIB}adsActionsMIB"  # RFC 3584: the notification OID less ".0.1"
    assert_event_fields(notification, 101)


def test_v2c_trap(receiver: PrivateSnmptrapd):
    config = settings({"address": "127.0.0.1", "port": receiver.port, "version": "v2c"})
    assert deliver(config, delivery(event(102))) == [None]
    [notification] = of_event(receiver.wait_for(lambda found: of_event(found, 102)), 102)
    assert (notification.version, notification.security_name) == ("v2c", "public")
    assert notification.values["SNMPv2-MIB::snmpTrapOID.0"] == f"{MIB}adsEventNotification"
    assert_event_fields(notification, 102)


def test_v2c_inform_is_delivered_once_acknowledged(receiver: PrivateSnmptrapd):
    config = settings({"address": "localhost", "port": receiver.port, "version": "v2c", "notification": "inform"})
    assert deliver(config, delivery(event(103)), delivery(event(104))) == [None, None]
    # snmptrapd logs an inform before it acknowledges it.
    found = receiver.records()
    for event_id in (103, 104):
        [notification] = of_event(found, event_id)
        assert notification.version == "v2c"
        assert_event_fields(notification, event_id)


@pytest.mark.parametrize("notification_kind", ["trap", "inform"])
def test_v3_auth_priv_sha_aes(receiver: PrivateSnmptrapd, notification_kind: str):
    config = settings({"address": "127.0.0.1", "port": receiver.port, "version": "v3",
                       "notification": notification_kind, "user": {**USER, "auth_protocol": "SHA",
                                                                   "priv_protocol": "AES"}})
    assert deliver(config, delivery(event(105))) == [None]
    [notification] = of_event(receiver.wait_for(lambda found: of_event(found, 105)), 105)
    assert (notification.version, notification.security_name) == ("v3", USER["name"])
    assert_event_fields(notification, 105)


@pytest.mark.parametrize(("auth_protocol", "priv_protocol"), [("SHA-256", "AES-192"), ("SHA-512", "AES-256")])
def test_v3_stronger_protocols_match_net_snmp(tmp_path: Path, auth_protocol: str, priv_protocol: str):
    user = SnmptrapdUser(USER["name"], USER["auth_key"], USER["priv_key"], auth_protocol=auth_protocol,
                         priv_protocol=priv_protocol, sender_engine_id=ENGINE_ID)
    with PrivateSnmptrapd(tmp_path / "snmptrapd", mib_dirs(), community=None, v3_users=[user]) as receiver:
        config = settings({"address": "127.0.0.1", "port": receiver.port, "version": "v3",
                           "user": {**USER, "auth_protocol": auth_protocol, "priv_protocol": priv_protocol}})
        assert deliver(config, delivery(event(111))) == [None]
        [notification] = of_event(receiver.wait_for(lambda found: of_event(found, 111)), 111)
        assert notification.version == "v3"


def test_v3_trap_with_a_wrong_key_is_not_logged(receiver: PrivateSnmptrapd):
    """The v3 test above proves authentication only if snmptrapd drops what fails it."""
    config = settings({"address": "127.0.0.1", "port": receiver.port, "version": "v3",
                       "user": {**USER, "priv_key": "not-the-key"}},
                      {"address": "127.0.0.1", "port": receiver.port, "version": "v2c"})
    assert deliver(config, delivery(event(106))) == [None]
    found = receiver.wait_for(lambda found: of_event(found, 106))  # the v2c one, sent at the same time
    assert [n.version for n in of_event(found, 106)] == ["v2c"]


def test_inform_nobody_acknowledges_fails_after_its_retries():
    config = settings({"address": "127.0.0.1", "port": free_udp_port("127.0.0.1"), "version": "v2c",
                       "notification": "inform", **QUICK_INFORM})
    [outcome] = deliver(config, delivery(event(107)))
    assert isinstance(outcome, DeliveryFailed)
    assert outcome.reason == "inform_unacknowledged"
    assert not outcome.permanent
    assert "public" not in outcome.detail  # no community in a failure


class InformAnswerer(asyncio.DatagramProtocol):
    """A receiver that answers each v2c inform with garbage, then with its Response PDU (as pysnmp
    builds it) carrying the inform's request ID plus ``request_id_offset``."""

    def __init__(self, request_id_offset: int):
        self.request_id_offset = request_id_offset
        self.informs: list[int] = []  # their request IDs

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
        inform, _ = decoder.decode(data, asn1Spec=v2c.Message())
        response = v2c.apiMessage.get_response(inform)
        request_id = int(v2c.apiPDU.get_request_id(v2c.apiMessage.get_pdu(inform)))
        self.informs.append(request_id)
        v2c.apiPDU.set_request_id(v2c.apiMessage.get_pdu(response), request_id + self.request_id_offset)
        self.transport.sendto(b"\x30\x03garbage", addr)
        self.transport.sendto(encoder.encode(response), addr)


@pytest.mark.parametrize(("request_id_offset", "acknowledged"), [(0, True), (1, False)])
def test_inform_is_acknowledged_only_by_a_response_with_its_request_id(request_id_offset: int, acknowledged: bool):
    async def scenario() -> tuple[Outcome, InformAnswerer]:
        loop = asyncio.get_running_loop()
        transport, answerer = await loop.create_datagram_endpoint(lambda: InformAnswerer(request_id_offset),
                                                                  local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        config = settings({"address": "127.0.0.1", "port": port, "version": "v2c", "notification": "inform",
                           **QUICK_INFORM})
        try:
            [outcome] = (await deliver_all(new_sink(config), [delivery(event(112))]))[0]
        finally:
            transport.close()
        return outcome, answerer

    outcome, answerer = asyncio.run(scenario())
    if acknowledged:
        assert outcome is None
        assert len(answerer.informs) == 1
    else:
        assert isinstance(outcome, DeliveryFailed) and outcome.reason == "inform_unacknowledged"
        # Every try resent the inform with its one request ID.
        assert len(answerer.informs) == QUICK_INFORM["retries"] + 1
        assert len(set(answerer.informs)) == 1


def test_retry_after_a_partial_failure_reaches_only_the_destination_that_failed(tmp_path: Path):
    mibs = mib_dirs()
    with PrivateSnmptrapd(tmp_path / "up", mibs) as up:
        down = PrivateSnmptrapd(tmp_path / "down", mibs, port=free_udp_port("127.0.0.1"))
        config = settings(
            {"address": "127.0.0.1", "port": up.port, "version": "v2c", "notification": "inform", **QUICK_INFORM},
            {"address": "127.0.0.1", "port": down.port, "version": "v2c", "notification": "inform", **QUICK_INFORM})
        sink = new_sink(config)
        first_try = delivery(event(108))

        async def scenario() -> tuple[Outcome, Outcome, Outcome]:
            await sink.start()
            try:
                [failed] = await sink.deliver([first_try])
                await asyncio.to_thread(down.start)
                [retried] = await sink.deliver([first_try])
                # Complete: forgotten, so a later delivery of the same event goes everywhere again.
                [again] = await sink.deliver([first_try])
                return failed, retried, again
            finally:
                await sink.stop()
                down.stop()

        failed, retried, again = asyncio.run(scenario())
        assert isinstance(failed, DeliveryFailed) and failed.reason == "inform_unacknowledged"
        assert f"127.0.0.1:{down.port}" in failed.detail
        assert retried is None and again is None
        assert len(of_event(up.records(), 108)) == 2  # the first try and the third, not the retry
        assert len(of_event(down.records(), 108)) == 2  # the retry and the third


def test_ipv6_destination(tmp_path: Path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        free_udp_port("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with PrivateSnmptrapd(tmp_path / "v6", mib_dirs(), host="::1") as receiver:
        config = settings({"address": "::1", "port": receiver.port, "version": "v2c", "notification": "inform"})
        assert deliver(config, delivery(event(109, source="2001:db8::10"))) == [None]
        [notification] = of_event(receiver.records(), 109)
        assert notification.values[f"{MIB}adsEventSource.0"] == "2001:db8::10"


def test_long_values_arrive_cut_as_documented(receiver: PrivateSnmptrapd):
    targets = [f"10.0.{i // 256}.{i % 256}" for i in range(300)]
    config = settings({"address": "127.0.0.1", "port": receiver.port, "version": "v2c", "notification": "inform"})
    assert deliver(config, delivery(event(110, detail="é" * 3000, targets=targets))) == [None]
    [notification] = of_event(receiver.records(), 110)
    values = notification.values
    assert values[f"{MIB}adsEventDetail.0"] == "é" * 510 + "..."
    assert values[f"{MIB}adsEventTargetCount.0"] == "300"
    listed = values[f"{MIB}adsEventTargets.0"].split(",")
    assert listed == targets[:len(listed)] and 0 < len(listed) < 300


def test_engine_id_derived_from_the_host_name_is_stable_and_configurable():
    derived = sender_engine_id(None, "worker-1.example.org")
    assert derived == sender_engine_id(None, "worker-1.example.org")
    assert derived != sender_engine_id(None, "worker-2.example.org")
    assert derived[:5] == bytes.fromhex("80001f8805") and len(derived) == 13
    assert sender_engine_id("0x" + ENGINE_ID, "ignored") == bytes.fromhex(ENGINE_ID)


def test_partial_deliveries_are_forgotten_after_the_retry_deadline():
    now = [0.0]
    partial = _PartialDeliveries(retention=60.0, clock=lambda: now[0])
    partial.remember("snmp-traps|ads:1", {0})
    now[0] = 30.0
    partial.remember("snmp-traps|ads:1", {0, 1})  # a later partial success keeps the first time
    assert partial.delivered("snmp-traps|ads:1") == {0, 1}
    now[0] = 61.0
    assert partial.delivered("snmp-traps|ads:1") == set()
