"""Running it all: the capture agent process (``ads-actions capture-agent``), and the worker's
capture service (its download routes, and the agent itself for ``agent: local`` actions)."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack, asynccontextmanager
from typing import AsyncIterator

import faust
from prometheus_client import CollectorRegistry

from streams.config import CaptureSettings, Settings

from .agent import CaptureAgent
from .api import build_api
from .client import remote_agent_client
from .config_file import offset_beyond_ttl_notes
from .metrics import CaptureMetrics
from .server import serving
from .sources import CaptureSource, LocalSource, RemoteSource

log = logging.getLogger("ads_actions.capture")

# Bound on one request of the download routes to a remote agent (a PCAP download streams on).
REMOTE_LIST_TIMEOUT_SECONDS = 30.0


@asynccontextmanager
async def running_agent(capture: CaptureSettings, metrics: CaptureMetrics) -> AsyncIterator[CaptureAgent]:
    agent = CaptureAgent(capture, metrics)
    await agent.start()
    try:
        yield agent
    finally:
        await agent.stop()


async def run_capture_agent(capture: CaptureSettings, registry: CollectorRegistry) -> None:
    """The agent process, until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running_agent(capture, CaptureMetrics(registry)) as agent:
        api = build_api(capture.token.get_secret_value(), agent, {"local": LocalSource(agent, None)})
        async with serving(api, capture.listen, capture.tls):
            log.info("capture agent: listening on %s:%d (%s)", capture.listen.host, capture.listen.port,
                     "https" if capture.tls else "http")
            await stop.wait()
    log.info("capture agent: stopped")


@asynccontextmanager
async def worker_capture_service(settings: Settings, registry: CollectorRegistry) -> AsyncIterator[None]:
    """The worker's capture server: ``/events/<id>/captures`` for every active capture action,
    and the agent's API with the agent itself when an action uses ``agent: local``."""
    capture = settings.capture
    assert capture is not None  # the configuration requires it with capture actions
    actions = [action for action in settings.actions.capture if action.active]
    for path, note in offset_beyond_ttl_notes(settings):
        log.warning("%s: %s", path, note)
    async with AsyncExitStack() as stack:
        agent = None
        if any(action.agent == "local" for action in actions):
            agent = await stack.enter_async_context(running_agent(capture, CaptureMetrics(registry)))
        sources: dict[str, CaptureSource] = {}
        for action in actions:
            if action.agent == "local":
                assert agent is not None
                sources[action.name] = LocalSource(agent, action.group)
            else:
                client = remote_agent_client(action.agent, REMOTE_LIST_TIMEOUT_SECONDS)
                stack.push_async_callback(client.close)
                sources[action.name] = RemoteSource(client, action.group)
        api = build_api(capture.token.get_secret_value(), agent, sources)
        await stack.enter_async_context(serving(api, capture.listen, capture.tls))
        log.info("capture server: listening on %s:%d%s", capture.listen.host, capture.listen.port,
                 " with the local capture agent" if agent else "")
        yield


def add_capture_service(app: faust.App, settings: Settings, registry: CollectorRegistry) -> None:
    """Runs the worker's capture service for as long as the worker runs."""

    @app.task
    async def serve_captures() -> None:
        try:
            async with worker_capture_service(settings, registry):
                await asyncio.Event().wait()
        except OSError as exc:  # the port is taken, the directory cannot be made...
            log.critical("capture server: cannot run: %s; capture deliveries fail until the worker restarts", exc)
