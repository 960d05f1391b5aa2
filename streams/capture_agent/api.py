"""The HTTP API: the agent's own (``/captures``) and the per-event download routes
(``/events/<id>/captures``) that the worker serves for every capture action, all behind one
bearer token.

Path parameters are matched by route patterns of digits only (a capture ID is
``<event id>-<group id>``); anything else is a 404 before any handler runs, so no request text
ever becomes part of a file path.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from .agent import CaptureAgent, CaptureRequest, RequestRefused
from .records import CaptureRecord
from .sources import CaptureSource, SourceUnavailable, pcap_file_response

log = logging.getLogger("ads_actions.capture.api")

EVENT_ID = r"{event_id:\d{1,19}}"
CAPTURE_ID = r"{capture_id:\d{1,19}-\d{1,10}}"
SOURCE = r"{source:[A-Za-z0-9][A-Za-z0-9_.-]{0,99}}"
MAX_REQUEST_BYTES = 64 * 1024

AGENT_KEY = web.AppKey("agent", CaptureAgent)
SOURCES_KEY = web.AppKey("sources", dict)


def bearer_auth(token: str) -> Callable:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def authenticate(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        given = request.headers.get("Authorization", "").encode("utf-8", errors="replace")
        # Constant time: how much of a guess matched must not show in the response time.
        if not hmac.compare_digest(given, expected):
            log.warning("refused %s %s from %s: missing or wrong bearer token", request.method, request.path,
                        request.remote)
            raise web.HTTPUnauthorized(text='{"error": "a valid bearer token is required"}',
                                       content_type="application/json",
                                       headers={"WWW-Authenticate": 'Bearer realm="ads-actions captures"'})
        return await handler(request)

    return authenticate


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def build_api(token: str, agent: CaptureAgent | None, sources: dict[str, CaptureSource]) -> web.Application:
    """The agent's routes when ``agent`` is given; the per-event routes over ``sources`` (the
    worker: one per capture action; the agent process: its own captures)."""
    app = web.Application(middlewares=[bearer_auth(token)], client_max_size=MAX_REQUEST_BYTES)
    app[SOURCES_KEY] = sources
    if agent is not None:
        app[AGENT_KEY] = agent
        app.router.add_post("/captures", start_capture)
        app.router.add_get("/captures", list_captures)
        app.router.add_get(f"/captures/{CAPTURE_ID}", capture_status)
        app.router.add_get(f"/captures/{CAPTURE_ID}/pcap", capture_pcap)
        app.router.add_delete(f"/captures/{CAPTURE_ID}", delete_capture)
    app.router.add_get(f"/events/{EVENT_ID}/captures", event_captures)
    app.router.add_get(f"/events/{EVENT_ID}/captures/{SOURCE}/{CAPTURE_ID}.pcapng", event_capture_pcap)
    return app


async def start_capture(request: web.Request) -> web.Response:
    try:
        body = CaptureRequest.model_validate_json(await request.read())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise _error(web.HTTPBadRequest, problems) from None
    try:
        record, created = request.app[AGENT_KEY].request(body)
    except RequestRefused as exc:
        raise _error(web.HTTPUnprocessableEntity, str(exc)) from None
    return web.json_response(record.to_json(), status=201 if created else 200)


async def list_captures(request: web.Request) -> web.Response:
    event_id = request.query.get("event_id")
    if event_id is not None and not (event_id.isascii() and event_id.isdigit() and len(event_id) <= 19):
        raise _error(web.HTTPBadRequest, f"expected an event ID (digits), found {event_id!r}")
    records = request.app[AGENT_KEY].list(int(event_id) if event_id is not None else None)
    return web.json_response([record.to_json() for record in records])


def _record(request: web.Request) -> CaptureRecord:
    record = request.app[AGENT_KEY].find(request.match_info["capture_id"])
    if record is None:
        raise _error(web.HTTPNotFound, f"no capture {request.match_info['capture_id']}")
    return record


async def capture_status(request: web.Request) -> web.Response:
    return web.json_response(_record(request).to_json())


async def capture_pcap(request: web.Request) -> web.StreamResponse:
    record = _record(request)
    path = request.app[AGENT_KEY].pcap_of(record)
    if path is None:
        raise _error(web.HTTPConflict, f"capture {record.capture_id} is {record.state}, it has no PCAP")
    return pcap_file_response(record, path)


async def delete_capture(request: web.Request) -> web.Response:
    if not await request.app[AGENT_KEY].delete(request.match_info["capture_id"]):
        raise _error(web.HTTPNotFound, f"no capture {request.match_info['capture_id']}")
    return web.Response(status=204)


async def event_captures(request: web.Request) -> web.Response:
    """Every source's captures of the event, each with the worker path to download its PCAP."""
    event_id = int(request.match_info["event_id"])
    listed = []
    for name, source in request.app[SOURCES_KEY].items():
        try:
            captures = await source.captures(event_id)
        except SourceUnavailable as exc:
            listed.append({"source": name, "error": str(exc)})
            continue
        for capture in captures:
            download = (f"/events/{event_id}/captures/{name}/{capture['id']}.pcapng"
                        if capture["state"] == "finished" else None)
            listed.append({"source": name, "capture": capture, "download": download})
    return web.json_response(listed)


async def event_capture_pcap(request: web.Request) -> web.StreamResponse:
    source = request.app[SOURCES_KEY].get(request.match_info["source"])
    capture_id = request.match_info["capture_id"]
    if source is None or not capture_id.startswith(f"{request.match_info['event_id']}-"):
        raise _error(web.HTTPNotFound, "no such capture of this event")
    try:
        return await source.pcap_response(capture_id, request)
    except SourceUnavailable as exc:
        raise _error(web.HTTPBadGateway, str(exc)) from None
