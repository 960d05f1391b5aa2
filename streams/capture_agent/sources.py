"""Where the per-event download routes find captures: the agent in this process, or a remote
agent through its API; each seen through one capture action's group."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from .agent import CaptureAgent
from .client import AgentClient, AgentUnavailable
from .records import CaptureRecord

PCAP_MEDIA_TYPE = "application/x-pcapng"
PCAP_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition")
_CHUNK = 256 * 1024


def pcap_file_response(record: CaptureRecord, path: Path) -> web.FileResponse:
    return web.FileResponse(path, headers={
        "Content-Type": PCAP_MEDIA_TYPE,
        "Content-Disposition": f'attachment; filename="event-{record.event_id}-group-{record.group_id}.pcapng"'})


class SourceUnavailable(Exception):
    """The source could not answer (its agent is down, or refused us)."""


class CaptureSource(Protocol):
    async def captures(self, event_id: int) -> list[dict[str, Any]]: ...

    async def pcap_response(self, capture_id: str, request: web.Request) -> web.StreamResponse: ...


class LocalSource:
    def __init__(self, agent: CaptureAgent, group: int | None):
        self.agent = agent
        self.group = group

    async def captures(self, event_id: int) -> list[dict[str, Any]]:
        return [record.to_json() for record in self.agent.list(event_id)
                if self.group is None or record.group_id == self.group]

    async def pcap_response(self, capture_id: str, request: web.Request) -> web.StreamResponse:
        record = self.agent.find(capture_id)
        path = self.agent.pcap_of(record) if record and self.group in (None, record.group_id) else None
        if path is None:
            raise web.HTTPNotFound(text='{"error": "no finished capture of this event"}',
                                   content_type="application/json")
        return pcap_file_response(record, path)


class RemoteSource:
    def __init__(self, client: AgentClient, group: int):
        self.client = client
        self.group = group

    async def captures(self, event_id: int) -> list[dict[str, Any]]:
        try:
            status, body = await self.client.request_json("GET", f"/captures?event_id={event_id}")
        except AgentUnavailable as exc:
            raise SourceUnavailable(str(exc)) from None
        if status != 200 or not isinstance(body, list):
            raise SourceUnavailable(f"{self.client.url} answered HTTP {status}")
        return [capture for capture in body if isinstance(capture, dict) and capture.get("group_id") == self.group]

    async def pcap_response(self, capture_id: str, request: web.Request) -> web.StreamResponse:
        if not capture_id.endswith(f"-{self.group}"):
            raise web.HTTPNotFound(text='{"error": "no capture of this action"}', content_type="application/json")
        try:
            async with self.client.open(f"/captures/{capture_id}/pcap") as upstream:
                if upstream.status != 200:
                    raise web.HTTPNotFound(text=await upstream.text(), content_type="application/json")
                response = web.StreamResponse(
                    headers={name: upstream.headers[name] for name in PCAP_HEADERS if name in upstream.headers})
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(_CHUNK):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except AgentUnavailable as exc:
            raise SourceUnavailable(str(exc)) from None
