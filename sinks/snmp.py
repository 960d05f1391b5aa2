"""The SNMP sink: ADS-ACTIONS-MIB::adsEventNotification for each delivery, to every destination of
the action's target groups, as SNMPv1 traps, SNMPv2c traps or informs, or SNMPv3 (authPriv) traps
or informs.

- SNMPv1 and v2c messages are encoded here (sinks/snmp_pdu.py) and sent from one UDP socket per
  address family: a few tenths of a millisecond of CPU each. SNMPv3 ones go through a pysnmp
  engine (hlapi, for USM authentication and privacy), which costs milliseconds each
  (deploy/mibs/README.md, "SNMPv3").
- A trap is delivered once handed to the network (UDP: a receiver that is down goes unnoticed).
  An inform is delivered once the receiver acknowledged it; one still unacknowledged after the
  destination's timeout and retries fails with reason ``inform_unacknowledged``.
- Partial failure: the pipeline retries a whole delivery, so the sink remembers which destinations
  already have it (by dedup key) and sends the retry only to the others. Memory only: after a
  restart, or a re-drive from the dead-letter topic, every destination gets it again.
- SNMPv3 notifications come from engine ID ``snmp.engine_id``, or one derived from the host name
  (stable across restarts); receivers create their users for it (snmptrapd: ``createUser -e``).
  It is logged when the sink starts.
- Secrets (communities, keys) appear in no log and no failure detail.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import socket
import time
from functools import cached_property
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence, cast

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (ContextData, NotificationType, ObjectIdentity, ObjectType, SnmpEngine,
                                         Udp6TransportTarget, UdpTransportTarget, UsmUserData, send_notification,
                                         usmAesBlumenthalCfb192Protocol, usmAesBlumenthalCfb256Protocol,
                                         usmAesCfb128Protocol, usmHMAC128SHA224AuthProtocol,
                                         usmHMAC192SHA256AuthProtocol, usmHMAC256SHA384AuthProtocol,
                                         usmHMAC384SHA512AuthProtocol, usmHMACSHAAuthProtocol)
from pysnmp.hlapi.varbinds import NotificationOriginatorVarBinds
from pysnmp.proto import rfc1905
from pysnmp.proto.errind import RequestTimedOut
from pysnmp.proto.rfc1902 import OctetString

from streams.config import Settings, SnmpAction, SnmpDestination, SnmpUser
from streams.events import AdsEvent

from .base import Delivery, DeliveryFailed, Outcome, Sink
from .snmp_pdu import NO_ERROR, SNMP_VERSION_2C, encode_varbinds, parse_response, v1_trap, v2c_notification
from .snmp_varbinds import EVENT_NOTIFICATION_OID, Varbind, event_varbinds

if TYPE_CHECKING:
    from .metrics import SinkMetrics

log = logging.getLogger("ads_actions.sinks.snmp")

AUTH_PROTOCOLS = {
    "SHA": usmHMACSHAAuthProtocol,
    "SHA-224": usmHMAC128SHA224AuthProtocol,
    "SHA-256": usmHMAC192SHA256AuthProtocol,
    "SHA-384": usmHMAC256SHA384AuthProtocol,
    "SHA-512": usmHMAC384SHA512AuthProtocol,
}
# AES-192 and AES-256 with Blumenthal key extension: what net-snmp calls AES-192 and AES-256
# (its Reeder/Cisco variants are AES-192-C and AES-256-C).
PRIV_PROTOCOLS = {
    "AES": usmAesCfb128Protocol,
    "AES-192": usmAesBlumenthalCfb192Protocol,
    "AES-256": usmAesBlumenthalCfb256Protocol,
}

# A derived engine ID (RFC 3411 SnmpEngineID): enterprise 8072 (net-snmp's, the placeholder this
# project uses, deploy/mibs/README.md) with the high bit set, format 5 (octets the enterprise
# defines), then the first 8 octets of the SHA-256 of the host name.
DERIVED_ENGINE_ID_PREFIX = bytes.fromhex("80001f88") + b"\x05"
DERIVED_ENGINE_ID_HASH_OCTETS = 8
UNKNOWN_AGENT_ADDRESS = "0.0.0.0"
# Request IDs are positive Integer32s; one counter cycles through them for every message of a sink.
MAX_REQUEST_ID = 2 ** 31 - 1
# sysUpTime and the v1 time-stamp: hundredths of a second since the sink was created.
TICKS_PER_SECOND = 100
# The local end of the sink's sockets: any address, a port the system picks.
WILDCARD_ADDRESS = {socket.AF_INET: "0.0.0.0", socket.AF_INET6: "::"}


def sender_engine_id(configured: str | None, hostname: str) -> bytes:
    """The SNMPv3 engine ID of this sender: ``configured`` (hex, optionally 0x-prefixed), or one
    derived from ``hostname``."""
    if configured:
        digits = configured[2:] if configured[:2].lower() == "0x" else configured
        try:
            return bytes.fromhex(digits)
        except ValueError:
            raise ValueError(f"snmp.engine_id: expected an even number of hex digits, found {configured!r}") from None
    digest = hashlib.sha256(hostname.encode("utf-8")).digest()
    return DERIVED_ENGINE_ID_PREFIX + digest[:DERIVED_ENGINE_ID_HASH_OCTETS]


def usm_user(user: SnmpUser) -> UsmUserData:
    return UsmUserData(user.name, authKey=user.auth_key.get_secret_value(), privKey=user.priv_key.get_secret_value(),
                       authProtocol=AUTH_PROTOCOLS[user.auth_protocol],
                       privProtocol=PRIV_PROTOCOLS[user.priv_protocol])


def describe(destination: SnmpDestination) -> str:
    """A destination for logs and failure details: never its community or keys."""
    who = f" user {destination.user.name}" if destination.user else ""
    return f"{destination.address}:{destination.port} ({destination.version} {destination.notification}{who})"


class _PartialDeliveries:
    """Which destinations (by index) already have a delivery that failed at others, by dedup key.

    An entry is forgotten once its delivery reaches every destination, or ``retention`` seconds
    after it was made: the pipeline retries a delivery only within its retry deadline."""

    def __init__(self, retention: float, clock: Callable[[], float] = time.monotonic):
        self._retention = retention
        self._clock = clock
        self._entries: dict[str, tuple[float, set[int]]] = {}

    def delivered(self, key: str) -> set[int]:
        self._expire()
        entry = self._entries.get(key)
        return set(entry[1]) if entry else set()

    def remember(self, key: str, destinations: set[int]) -> None:
        since = self._entries[key][0] if key in self._entries else self._clock()
        self._entries[key] = (since, destinations)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def _expire(self) -> None:
        oldest = self._clock() - self._retention
        for key in [key for key, (since, _) in self._entries.items() if since < oldest]:
            del self._entries[key]


class _EventNotification:
    """adsEventNotification for one delivery, in the forms its destinations need, each built once
    for all of them."""

    def __init__(self, varbinds: list[Varbind]):
        self.varbinds = varbinds

    @cached_property
    def encoded_varbinds(self) -> bytes:
        """For SNMPv1 and v2c messages."""
        return encode_varbinds(self.varbinds)

    @cached_property
    def object_types(self) -> list[ObjectType]:
        """For pysnmp's engine (SNMPv3)."""
        return [ObjectType(ObjectIdentity(varbind.oid), varbind.value) for varbind in self.varbinds]


class _UdpEndpoint(asyncio.DatagramProtocol):
    """The sink's UDP socket of one address family, for all its SNMPv1 and v2c destinations: sends
    datagrams, and hands every datagram that arrives (inform acknowledgements) to ``received``."""

    def __init__(self, action: str, received: Callable[[bytes, tuple], None]):
        self._action = action
        self._received = received
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, family: int, action: str, received: Callable[[bytes, tuple], None]) -> _UdpEndpoint:
        loop = asyncio.get_running_loop()
        _, endpoint = await loop.create_datagram_endpoint(lambda: cls(action, received), family=family,
                                                          local_addr=(WILDCARD_ADDRESS[family], 0))
        return endpoint

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # What sendto() refused at once (no route, a broadcast address...): the datagram is lost, as
        # one lost on the way; an inform then fails unacknowledged.
        log.warning("snmp action %s: UDP: %s", self._action, exc)

    def send(self, datagram: bytes, address: tuple) -> None:
        assert self._transport is not None, "send() before the endpoint opened"
        self._transport.sendto(datagram, address)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _AwaitedResponse(NamedTuple):
    """What acknowledges an inform, and where its error status goes."""

    source: tuple
    community: bytes
    error_status: asyncio.Future[int | None]


class _Informs:
    """SNMPv2c informs awaiting their acknowledgement: a Response PDU with the inform's request ID,
    from the address the inform went to, with its community (pysnmp checked those too). Anything
    else that arrives is ignored."""

    def __init__(self) -> None:
        self._awaiting: dict[int, _AwaitedResponse] = {}

    async def exchange(self, endpoint: _UdpEndpoint, address: tuple, datagram: bytes, request_id: int,
                       community: bytes, tries: int, timeout: float) -> int | None:
        """Sends ``datagram``, the inform with ``request_id``, up to ``tries`` times, ``timeout``
        seconds apart, until acknowledged: the response's error status, or None if none came."""
        loop = asyncio.get_running_loop()
        try:
            for _ in range(tries):
                # A future per try, which the try's timer ends with None. Every try carries the same
                # request ID: a late acknowledgement of an earlier one answers the inform too.
                error_status: asyncio.Future[int | None] = loop.create_future()
                self._awaiting[request_id] = _AwaitedResponse(address[:2], community, error_status)
                endpoint.send(datagram, address)
                timer = loop.call_later(timeout, _unacknowledged, error_status)
                try:
                    status = await error_status
                finally:
                    timer.cancel()
                if status is not None:
                    return status
            return None
        finally:
            del self._awaiting[request_id]

    def received(self, datagram: bytes, source: tuple) -> None:
        try:
            response = parse_response(datagram)
        except ValueError:
            return
        awaited = self._awaiting.get(response.request_id)
        if (awaited is None or awaited.error_status.done() or response.version != SNMP_VERSION_2C
                or source[:2] != awaited.source or response.community != awaited.community):
            return
        awaited.error_status.set_result(response.error_status)


def _unacknowledged(error_status: asyncio.Future[int | None]) -> None:
    if not error_status.done():
        error_status.set_result(None)


class SnmpSink(Sink):
    kind = "snmp"
    action_type = SnmpAction
    action: SnmpAction

    def __init__(self, action: SnmpAction, settings: Settings, metrics: "SinkMetrics"):
        super().__init__(action, settings, metrics)
        self.destinations: list[SnmpDestination] = [destination for group in action.target_groups
                                                    for destination in settings.snmp.target_groups[group]]
        self._communities = [_community_octets(destination.community.get_secret_value())
                             for destination in self.destinations]
        self._partial = _PartialDeliveries(action.retry.deadline + action.retry.max_backoff)
        self._engine: SnmpEngine | None = None
        self._endpoints: dict[int, _UdpEndpoint] = {}
        self._opening_endpoint = asyncio.Lock()
        self._informs = _Informs()
        # Starting anywhere: a restarted worker's informs then do not reuse its predecessor's request
        # IDs, which late acknowledgements to the predecessor could carry.
        self._request_id = random.randrange(MAX_REQUEST_ID)
        self._created_at = time.monotonic()

    async def start(self) -> None:
        engine_id = sender_engine_id(self.settings.snmp.engine_id, socket.gethostname())
        if any(destination.version == "v3" for destination in self.destinations):
            self._engine = await asyncio.to_thread(_prepared_engine, engine_id)
        log.info("snmp action %s: SNMPv3 engine ID 0x%s, %d destinations", self.action.name, engine_id.hex(),
                 len(self.destinations))

    async def stop(self) -> None:
        for endpoint in self._endpoints.values():
            endpoint.close()
        self._endpoints.clear()
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None

    async def deliver(self, batch: Sequence[Delivery]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._deliver_one(delivery) for delivery in batch)))

    async def _deliver_one(self, delivery: Delivery) -> Outcome:
        if not isinstance(delivery.event, AdsEvent):
            return DeliveryFailed("unsupported_event", "SNMP notifications carry ADS events only", permanent=True)
        notification = _EventNotification(event_varbinds(
            delivery.event, perspective=delivery.perspective, perspective_id=delivery.perspective_id,
            priority=delivery.priority))
        done = self._partial.delivered(delivery.dedup_key)
        pending = [index for index in range(len(self.destinations)) if index not in done]
        results = await asyncio.gather(*(self._send(index, notification) for index in pending))
        failures = [(index, failure) for index, failure in zip(pending, results) if failure is not None]
        if not failures:
            self._partial.forget(delivery.dedup_key)
            return None
        self._partial.remember(delivery.dedup_key, done | (set(pending) - {index for index, _ in failures}))
        if len(failures) == 1:
            return failures[0][1]
        first = failures[0][1]
        details = "; ".join(failure.detail for _, failure in failures)
        return DeliveryFailed(first.reason, f"{len(failures)} of {len(self.destinations)} destinations failed: "
                                            f"{details}", permanent=all(f.permanent for _, f in failures))

    async def _send(self, index: int, notification: _EventNotification) -> DeliveryFailed | None:
        destination = self.destinations[index]
        if destination.version == "v3":
            return await self._send_v3(index, notification.object_types)
        where = describe(destination)
        try:
            family, address = await _resolve(destination)
            endpoint = await self._endpoint(family)
        except DeliveryFailed as failure:
            return failure
        except OSError as exc:
            return DeliveryFailed("send_error", f"{where}: {exc}")
        community = self._communities[index]
        if destination.version == "v1":
            endpoint.send(v1_trap(community, EVENT_NOTIFICATION_OID, _local_ipv4_address(family, address),
                                  self._uptime_ticks(), notification.encoded_varbinds), address)
            return None
        request_id = self._next_request_id()
        datagram = v2c_notification(destination.notification, community, request_id, self._uptime_ticks(),
                                    EVENT_NOTIFICATION_OID, notification.encoded_varbinds)
        if destination.notification == "trap":
            endpoint.send(datagram, address)
            return None
        error_status = await self._informs.exchange(endpoint, address, datagram, request_id, community,
                                                    destination.retries + 1, destination.timeout)
        if error_status is None:
            return _unacknowledged_failure(destination)
        if error_status != NO_ERROR:
            status_name = rfc1905.errorStatus.clone(error_status).prettyPrint()
            return DeliveryFailed("inform_rejected", f"{where}: {status_name}")
        return None

    async def _send_v3(self, index: int, objects: list[ObjectType]) -> DeliveryFailed | None:
        assert self._engine is not None, "deliver() before start()"
        destination = self.destinations[index]
        assert destination.user is not None, "a v3 destination without a user"
        where = describe(destination)
        # Each destination its own tag, so that pysnmp never shares its configuration entries
        # (targets, parameters) between two destinations.
        tag = f"destination-{index}"
        try:
            family, address = await _resolve(destination)
            target_class = Udp6TransportTarget if family == socket.AF_INET6 else UdpTransportTarget
            target = await target_class.create((address[0], destination.port), timeout=destination.timeout,
                                               retries=destination.retries, tagList=tag)
            notification = NotificationType(ObjectIdentity(EVENT_NOTIFICATION_OID)).add_varbinds(*objects)
            error_indication, error_status, _, _ = await send_notification(
                self._engine, usm_user(destination.user), target, ContextData(), destination.notification,
                notification, lookupMib=False)
        except DeliveryFailed as failure:
            return failure
        except (OSError, PySnmpError) as exc:
            return DeliveryFailed("send_error", f"{where}: {exc}")
        if isinstance(error_indication, RequestTimedOut):
            return _unacknowledged_failure(destination)
        if error_indication:
            return DeliveryFailed("snmp_error", f"{where}: {error_indication}")
        if error_status:
            return DeliveryFailed("inform_rejected", f"{where}: {error_status.prettyPrint()}")
        return None

    async def _endpoint(self, family: int) -> _UdpEndpoint:
        """The socket for ``family``, opened at its first use: IPv6 only where a destination is."""
        endpoint = self._endpoints.get(family)
        if endpoint is None:
            async with self._opening_endpoint:
                endpoint = self._endpoints.get(family)
                if endpoint is None:
                    endpoint = await _UdpEndpoint.open(family, self.action.name, self._informs.received)
                    self._endpoints[family] = endpoint
        return endpoint

    def _next_request_id(self) -> int:
        """The next of the sink's request IDs: an inform awaiting its acknowledgement cannot meet its
        own again (that takes 2^31 messages)."""
        self._request_id = self._request_id % MAX_REQUEST_ID + 1
        return self._request_id

    def _uptime_ticks(self) -> int:
        return int((time.monotonic() - self._created_at) * TICKS_PER_SECOND)


def _community_octets(community: str) -> bytes:
    """A community as sent: ISO 8859-1, as pysnmp sent it; one outside ISO 8859-1 in UTF-8, as net-snmp's
    tools send what a UTF-8 terminal typed."""
    try:
        return community.encode("latin-1")
    except UnicodeEncodeError:
        return community.encode("utf-8")


def _unacknowledged_failure(destination: SnmpDestination) -> DeliveryFailed:
    tries = destination.retries + 1
    return DeliveryFailed("inform_unacknowledged",
                          f"{describe(destination)}: no acknowledgement after {tries} tries of {destination.timeout} s")


def _prepared_engine(engine_id: bytes) -> SnmpEngine:
    """An engine that has resolved a notification once: building it and its MIB view (pysnmp's MIB
    modules, pysmi's parser tables) takes a fraction of a second of CPU, better spent in a thread at
    start than on the event loop at the first delivery."""
    engine = SnmpEngine(snmpEngineID=OctetString(engine_id))
    notification = NotificationType(ObjectIdentity(EVENT_NOTIFICATION_OID))
    NotificationOriginatorVarBinds().make_varbinds(engine.cache, (notification,))
    return engine


async def _resolve(destination: SnmpDestination) -> tuple[int, tuple]:
    """(address family, socket address) of a destination given by address or host name."""
    numeric = _numeric_address(destination.address, destination.port)
    if numeric is not None:
        return numeric
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(destination.address, destination.port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise DeliveryFailed("resolve_error", f"{describe(destination)}: {exc}") from None
    family, _, _, _, address = found[0]
    return family, address


def _numeric_address(host: str, port: int) -> tuple[int, tuple] | None:
    """(address family, socket address) of an IP address literal, without asking the resolver (in a
    thread, for each send). The address is in canonical text form, as recvfrom() reports the source
    of a datagram: acknowledgements are matched against it."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, host)
        except OSError:
            continue
        return family, (socket.inet_ntop(family, packed), port)
    return None


def _local_ipv4_address(family: int, address: tuple) -> str:
    """The local address the system routes ``address`` from; connecting a UDP socket sends
    nothing. An SNMPv1 agent address is IPv4: 0.0.0.0 for an IPv6 destination."""
    if family != socket.AF_INET:
        return UNKNOWN_AGENT_ADDRESS
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(address)
        except OSError:  # no route: the send itself will say so
            return UNKNOWN_AGENT_ADDRESS
        return probe.getsockname()[0]
