"""The HTTP client of a capture agent's API: the sink starts captures with it, the worker's
download routes list and fetch them through it."""

from __future__ import annotations

import errno
import ssl
from typing import Any

import aiohttp

from streams.config import CaptureSettings, RemoteCaptureAgent


class AgentUnavailable(Exception):
    """No answer from the agent. ``reason`` is a DeliveryFailed reason code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class AgentClient:
    def __init__(self, url: str, token: str, ssl_context: ssl.SSLContext | None, timeout: float):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._ssl = ssl_context if ssl_context is not None else True
        # Bounds connecting and every wait for data, not a whole (streamed) download.
        self._timeout = aiohttp.ClientTimeout(connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on first use: a session belongs to the running loop
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request_json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body or None); raises AgentUnavailable without an answer."""
        async with self._exchange(method, path, body) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = None
            return response.status, data

    def open(self, path: str) -> "_Exchange":
        """``async with client.open(path) as response``: the response, to stream its body."""
        return self._exchange("GET", path, None)

    def _exchange(self, method: str, path: str, body: Any) -> "_Exchange":
        return _Exchange(self, method, path, body)


class _Exchange:
    """One request, with the ways it can fail to reach the agent turned into AgentUnavailable."""

    def __init__(self, client: AgentClient, method: str, path: str, body: Any):
        self.client, self.method, self.path, self.body = client, method, path, body
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        url = self.client.url + self.path
        try:
            self._response = await self.client.session.request(self.method, url, json=self.body,
                                                               ssl=self.client._ssl)
        except aiohttp.ClientSSLError as exc:
            raise AgentUnavailable("tls_error", f"{self.client.url}: {exc}") from None
        except aiohttp.ClientConnectorError as exc:
            refused = exc.os_error.errno == errno.ECONNREFUSED if exc.os_error else False
            raise AgentUnavailable("connection_refused" if refused else "connect_error",
                                   f"{self.client.url}: {exc.strerror or exc}") from None
        except TimeoutError:
            raise AgentUnavailable("timeout", f"{self.client.url}: no answer in time") from None
        except aiohttp.ClientError as exc:
            raise AgentUnavailable("http_error", f"{self.client.url}: {exc}") from None
        return self._response

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            self._response.release()


def remote_agent_client(agent: RemoteCaptureAgent, timeout: float) -> AgentClient:
    context = ssl.create_default_context(cafile=agent.ca_file) if agent.url.startswith("https:") else None
    return AgentClient(agent.url, agent.token.get_secret_value(), context, timeout)


def local_agent_client(capture: CaptureSettings, timeout: float) -> AgentClient:
    """The client of the agent this worker runs itself, over loopback. With TLS, the server's own
    certificate is the only one trusted (pinned), so its names need not include the loopback."""
    host = capture.listen.host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    host = f"[{host}]" if ":" in host else host
    context = None
    if capture.tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(capture.tls.cert_file)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        context.check_hostname = False
    scheme = "https" if capture.tls is not None else "http"
    return AgentClient(f"{scheme}://{host}:{capture.listen.port}", capture.token.get_secret_value(), context, timeout)
