"""Traffic recording: for each delivery, ask the action's capture agent to record the event's
hosts (streams/capture_agent). The delivery is done once the agent has accepted the capture; it
records on by itself (live recording, then extraction), and the PCAP is downloaded from it or
through the worker (``/events/<id>/captures``).

The agent is idempotent per (event, group): a retry or a re-drive of a delivery it already
accepted gets the existing capture back, not a second one. An agent that does not answer fails
the delivery with a transient reason (retried, then dead-lettered); one that refuses the request
(bad token, unknown group) fails it permanently.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Sequence

from streams.capture_agent.client import AgentUnavailable, local_agent_client, remote_agent_client
from streams.capture_agent.filters import MAX_FILTER_HOSTS, event_hosts
from streams.capture_agent.window import capture_start
from streams.config import CaptureAction, Settings
from streams.events import AdsEvent

from .base import Delivery, DeliveryFailed, Outcome, Sink
from .metrics import SinkMetrics

log = logging.getLogger("ads_actions.sinks.capture")

# Statuses with which the agent refuses the request itself: sending it again cannot help.
REFUSALS = {400: "rejected", 401: "unauthorized", 403: "unauthorized", 404: "rejected", 413: "rejected",
            422: "rejected"}
DETAIL_CHARS = 300


class CaptureSink(Sink):
    kind = "capture"
    action_type = CaptureAction
    action: CaptureAction

    def __init__(self, action: CaptureAction, settings: Settings, metrics: SinkMetrics):
        super().__init__(action, settings, metrics)
        if action.agent == "local":
            assert settings.capture is not None  # the configuration requires it with capture actions
            self.client = local_agent_client(settings.capture, action.timeout)
        else:
            self.client = remote_agent_client(action.agent, action.timeout)

    @property
    def max_batch(self) -> int:
        return 50

    async def stop(self) -> None:
        await self.client.close()

    async def deliver(self, batch: Sequence[Delivery]) -> list[Outcome]:
        # One request per event, all at once: "captures start immediately for every event".
        return list(await asyncio.gather(*(self._start_capture(delivery) for delivery in batch)))

    async def _start_capture(self, delivery: Delivery) -> Outcome:
        event = delivery.event
        if not isinstance(event, AdsEvent):
            return DeliveryFailed("unsupported_event", "captures are recorded for ADS events only", permanent=True)
        hosts, left_out = event_hosts(event)
        if not hosts:
            return DeliveryFailed("no_addresses", f"event {event.id} names no IP address to record", permanent=True)
        start = capture_start(event.detected_at, event.first_flow, self.action.recording_start_offset)
        request = {"event_id": event.id, "group": self.action.group, "hosts": [h.compressed for h in hosts],
                   "start": start.timestamp() if start is not None else None,
                   "live_recording_duration": self.action.live_recording_duration,
                   "recording_start_offset": self.action.recording_start_offset}
        try:
            status, body = await self.client.request_json("POST", "/captures", request)
        except AgentUnavailable as exc:
            return DeliveryFailed(exc.reason, exc.detail)
        if status in (200, 201):
            log.info("capture action %s: event %d: capture %s %s on %s", self.action.name, event.id,
                     body.get("id") if isinstance(body, dict) else "?", "started" if status == 201 else "exists",
                     self.client.url)
            if left_out:
                log.warning("capture action %s: event %d: %d addresses left out of the filter (not addresses, "
                            "or beyond its bound of %d)", self.action.name, event.id, left_out, MAX_FILTER_HOSTS)
            return None
        error = body.get("error") if isinstance(body, dict) else None
        detail = f"{self.client.url} answered HTTP {status}: {error or body}"[:DETAIL_CHARS]
        if status in REFUSALS:
            return DeliveryFailed(REFUSALS[status], detail, permanent=True)
        return DeliveryFailed("agent_error", detail)
