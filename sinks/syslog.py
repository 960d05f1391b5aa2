"""The syslog sink: CEF messages of ADS events to one syslog receiver over UDP, TCP or TLS.

- UDP: one datagram per message, fire and forget: "delivered" means handed to the network; a
  receiver that is down goes unnoticed (as with every UDP syslog sender).
- TCP and TLS (RFC 5425): octet-counted messages (RFC 6587) over one connection, kept open across
  batches, opened again after an error or once the receiver has closed it. TCP syslog has no
  acknowledgements: "delivered" means written to a connection the receiver had not closed.

An event is delivered once all its messages are sent. When sending fails part way, the retry
sends all its messages again (at least once). A failure that is not the delivery's own
(connection refused, timeout...) ends the batch: the deliveries after it fail with the same
reason without being tried, so that a receiver that is down costs one connection attempt per
batch, not one per delivery.

Times (syslog header and CEF ``start``) are written in ``syslog.timezone`` (UTC by default): a
3164 header has no zone to say which one, so the receiver must know it.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from typing import TYPE_CHECKING, Sequence

from streams.config import Settings, SyslogAction, SyslogTarget
from streams.events import AdsEvent

from .base import Delivery, DeliveryFailed, Outcome, Sink
from .cef import cef_messages
from .syslog_framing import Origin, pri, severity_of, syslog_frame
from .tls import client_ssl_context

if TYPE_CHECKING:
    from .metrics import SinkMetrics


class _DatagramChannel:
    """An unconnected UDP socket: a connected one would report an earlier datagram's ICMP "port
    unreachable" as an error on a later, unrelated send."""

    def __init__(self, target: SyslogTarget, where: str):
        self._target = target
        self._where = where
        self._socket: socket.socket | None = None
        self._address: tuple = ()

    async def send(self, frames: Sequence[bytes]) -> None:
        loop = asyncio.get_running_loop()
        if self._socket is None:
            await self._open(loop)
        assert self._socket is not None
        for frame in frames:
            try:
                await loop.sock_sendto(self._socket, frame, self._address)
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    detail = f"{self._where}: a message of {len(frame)} bytes does not fit in a UDP datagram"
                    raise DeliveryFailed("message_too_large", detail, permanent=True) from None
                raise DeliveryFailed("send_error", f"{self._where}: {exc}") from None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            found = await loop.getaddrinfo(self._target.host, self._target.effective_port, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise DeliveryFailed("resolve_error", f"{self._where}: {exc}") from None
        family, kind, protocol, _, address = found[0]
        self._socket = socket.socket(family, kind, protocol)
        self._socket.setblocking(False)
        self._address = address

    def abort(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def close(self) -> None:
        self.abort()


class _StreamProtocol(asyncio.Protocol):
    """The sending side of a TCP or TLS connection. Receivers send nothing we use; the peer
    closing its side marks the connection as gone, so the next batch reconnects instead of writing
    into a socket whose data would be lost."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        self.closed.set()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    @property
    def gone(self) -> bool:
        # is_closing: a failed write closes the transport at once, connection_lost comes a turn later.
        return self.closed.is_set() or self.transport is None or self.transport.is_closing()

    async def drain(self) -> None:
        await self._writable.wait()


class _StreamChannel:
    def __init__(self, target: SyslogTarget, where: str, ssl_context: ssl.SSLContext | None):
        self._target = target
        self._where = where
        self._ssl_context = ssl_context
        self._protocol: _StreamProtocol | None = None

    async def send(self, frames: Sequence[bytes]) -> None:
        if self._protocol is None or self._protocol.gone:
            self.abort()
            self._protocol = await self._connect()
        protocol = self._protocol
        assert protocol.transport is not None
        protocol.transport.writelines(frames)
        await protocol.drain()
        if protocol.gone:
            raise DeliveryFailed("send_error", f"{self._where}: the connection was closed while sending")

    async def _connect(self) -> _StreamProtocol:
        loop = asyncio.get_running_loop()
        tls = self._ssl_context is not None
        server_name = (self._target.tls.server_name or self._target.host) if tls else None
        try:
            _, protocol = await loop.create_connection(_StreamProtocol, self._target.host, self._target.effective_port,
                                                       ssl=self._ssl_context, server_hostname=server_name)
        except ConnectionRefusedError:
            raise DeliveryFailed("connection_refused", f"{self._where}: connection refused") from None
        except ssl.SSLError as exc:  # before OSError, its base class: a handshake or certificate problem
            raise DeliveryFailed("tls_error", f"{self._where}: {exc}") from None
        except socket.gaierror as exc:
            raise DeliveryFailed("resolve_error", f"{self._where}: {exc}") from None
        except OSError as exc:
            raise DeliveryFailed("connection_error", f"{self._where}: {exc}") from None
        return protocol

    def abort(self) -> None:
        """Drop the connection at once (after an error its state is unknown)."""
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()
        self._protocol = None

    async def close(self) -> None:
        """Close after what is buffered has been sent (TLS: with a close_notify)."""
        protocol, self._protocol = self._protocol, None
        if protocol is None or protocol.transport is None:
            return
        protocol.transport.close()
        try:
            async with asyncio.timeout(self._target.timeout):
                await protocol.closed.wait()
        except TimeoutError:
            protocol.transport.abort()


class SyslogSink(Sink):
    kind = "syslog"
    action_type = SyslogAction
    action: SyslogAction

    def __init__(self, action: SyslogAction, settings: Settings, metrics: "SinkMetrics"):
        super().__init__(action, settings, metrics)
        self.target = action.target or settings.syslog.default_target
        self.origin = Origin(hostname=settings.syslog.hostname or socket.gethostname(),
                             app_name=settings.syslog.app_name, procid=str(os.getpid()))
        self.zone = ZoneInfo(settings.syslog.timezone)
        host = f"[{self.target.host}]" if ":" in self.target.host else self.target.host
        self.where = f"{self.target.transport}://{host}:{self.target.effective_port}"
        self._channel: _DatagramChannel | _StreamChannel | None = None
        self._lock = asyncio.Lock()  # one connection: deliveries are written one after another

    async def start(self) -> None:
        if self.target.transport == "udp":
            self._channel = _DatagramChannel(self.target, self.where)
        else:
            # A CA or client certificate that cannot be loaded is a configuration error: raised here.
            context = client_ssl_context(self.target.tls) if self.target.transport == "tls" else None
            self._channel = _StreamChannel(self.target, self.where, context)

    async def stop(self) -> None:
        if self._channel is not None:
            async with self._lock:
                await self._channel.close()

    def frames(self, delivery: Delivery, now: datetime) -> list[bytes]:
        """The bytes to send for one delivery (pure)."""
        assert isinstance(delivery.event, AdsEvent)
        priority_value = pri(severity_of(delivery.priority, self.action))
        messages = cef_messages(delivery.event, delivery.priority, delivery.perspective_id, self.action,
                                self.settings.syslog, self.zone)
        stream = self.target.transport != "udp"
        return [syslog_frame(self.target.framing, priority_value, now, self.origin, message, self.zone, stream)
                for message in messages]

    async def deliver(self, batch: Sequence[Delivery]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        batch_failure: DeliveryFailed | None = None
        async with self._lock:
            for delivery in batch:
                if batch_failure is not None:
                    outcomes.append(DeliveryFailed(batch_failure.reason, "not tried after an earlier delivery of "
                                                                         f"its batch failed: {batch_failure.detail}"))
                    continue
                outcome = await self._deliver_one(delivery)
                if outcome is not None and not outcome.permanent:
                    batch_failure = outcome
                outcomes.append(outcome)
        return outcomes

    async def _deliver_one(self, delivery: Delivery) -> Outcome:
        if not isinstance(delivery.event, AdsEvent):
            return DeliveryFailed("unsupported_event", "syslog actions export ADS events, found an IDS event",
                                  permanent=True)
        assert self._channel is not None, "deliver() before start()"
        frames = self.frames(delivery, datetime.now(timezone.utc))
        try:
            async with asyncio.timeout(self.target.timeout):
                await self._channel.send(frames)
        except DeliveryFailed as failure:
            self._channel.abort()
            return failure
        except TimeoutError:
            self._channel.abort()
            return DeliveryFailed("timeout", f"{self.where}: not sent within {self.target.timeout:g} s")
        return None
