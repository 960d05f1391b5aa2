"""One action's delivery pipeline: batches for its sink, retry with exponential backoff, give up.

Alertmanager's notify pipeline, minus the stages that happen before a delivery is queued (mute
and dedup, in ``sinks/host.py``): deliveries wait in a queue, up to ``sink.concurrency`` workers
take batches of at most ``sink.max_batch`` from it, and each outcome either settles the delivery
(delivered, or given up after the retry policy's last try or deadline) or schedules another try.
Settled deliveries are handed back in batches through ``on_settled``, which records them (dedup
marks, dead letters) before their input offsets are acknowledged.

Every action has its own queue and workers, so an action whose receiver hangs or fails delays
only itself.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable, Sequence

from streams.config import RetryPolicy

from .base import Delivery, DeliveryFailed, Outcome, Sink
from .metrics import SinkMetrics

log = logging.getLogger("ads_actions.sinks")


@dataclass(eq=False)
class Pending:
    """A delivery on its way, with what acknowledges its input message(s) once it is settled: a
    re-read copy of a delivery still in progress joins it instead of being delivered again."""

    delivery: Delivery
    acks: list[Callable[[], object]] = field(default_factory=list)
    attempts: int = 0
    first_try: float | None = None


# (pending, None) delivered; (pending, DeliveryFailed) given up: dead-letter it.
Settled = tuple[Pending, DeliveryFailed | None]


class ActionPipeline:
    def __init__(self, sink: Sink, policy: RetryPolicy, metrics: SinkMetrics,
                 on_settled: Callable[[Sequence[Settled]], Awaitable[None]], clock: Callable[[], float] = time.time):
        self.sink = sink
        self.policy = policy
        self.metrics = metrics
        self.on_settled = on_settled
        self.clock = clock
        self._ready: deque[Pending] = deque()
        self._retries: list[tuple[float, int, Pending]] = []  # heap of (due time, sequence, pending)
        self._sequence = itertools.count()
        self._wakeup = asyncio.Event()
        self._workers: list[asyncio.Task] = []
        labels = (sink.kind, sink.action.name)
        self._delivered = metrics.delivered.labels(*labels)
        self._retried = metrics.retried.labels(*labels)
        self._since_detected = metrics.latency.labels(*labels, "detected")
        self._since_routed = metrics.latency.labels(*labels, "routed")

    @property
    def waiting(self) -> int:
        return len(self._ready) + len(self._retries)

    def start(self) -> None:
        name = self.sink.action.name
        self._workers = [asyncio.create_task(self._work(), name=f"deliver-{name}-{n}")
                         for n in range(self.sink.concurrency)]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def submit(self, pending: Pending) -> None:
        self._ready.append(pending)
        self._wakeup.set()

    def drop_waiting(self) -> list[Pending]:
        """Forget every delivery not being tried right now (a rebalance gives their partitions
        away: their offsets were not committed, so the partitions' next owner delivers them)."""
        dropped = list(self._ready) + [pending for _, _, pending in self._retries]
        self._ready.clear()
        self._retries.clear()
        return dropped

    async def _work(self) -> None:
        while True:
            batch = await self._next_batch()
            outcomes = await self._deliver(batch)
            settled = self._judge(batch, outcomes)
            if settled:
                await self.on_settled(settled)

    async def _next_batch(self) -> list[Pending]:
        while True:
            now = self.clock()
            while self._retries and self._retries[0][0] <= now:
                self._ready.append(heapq.heappop(self._retries)[2])
            if self._ready:
                count = min(self.sink.max_batch, len(self._ready))
                return [self._ready.popleft() for _ in range(count)]
            self._wakeup.clear()
            timeout = self._retries[0][0] - now if self._retries else None
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    async def _deliver(self, batch: list[Pending]) -> Sequence[Outcome]:
        now = self.clock()
        for pending in batch:
            if pending.first_try is None:
                pending.first_try = now
        try:
            outcomes = await self.sink.deliver([pending.delivery for pending in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{type(self.sink).__name__} returned {len(outcomes)} outcomes for "
                                   f"{len(batch)} deliveries")
            return outcomes
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a sink must not stop the worker: the batch fails
            log.exception("action %s: sink raised", self.sink.action.name)
            failure = DeliveryFailed("sink_error", f"{type(exc).__name__}: {exc}")
            return [failure] * len(batch)

    def _judge(self, batch: list[Pending], outcomes: Sequence[Outcome]) -> list[Settled]:
        now = self.clock()
        delivered_at = datetime.fromtimestamp(now, timezone.utc)
        settled: list[Settled] = []
        for pending, outcome in zip(batch, outcomes):
            pending.attempts += 1
            if outcome is None:
                self._delivered.inc()
                self._since_detected.observe(max(0.0, (delivered_at - pending.delivery.detected_at).total_seconds()))
                self._since_routed.observe(max(0.0, (delivered_at - pending.delivery.routed_at).total_seconds()))
                settled.append((pending, None))
                continue
            self.metrics.failed.labels(self.sink.kind, self.sink.action.name, outcome.reason).inc()
            delay = self.policy.backoff(pending.attempts)
            assert pending.first_try is not None
            if (outcome.permanent or pending.attempts >= self.policy.max_attempts
                    or now + delay > pending.first_try + self.policy.deadline):
                log.warning("action %s: event %s given up after %d tries: %s", self.sink.action.name,
                            pending.delivery.event.id, pending.attempts, outcome)
                settled.append((pending, outcome))
                continue
            log.info("action %s: event %s try %d failed (%s), next in %.1f s", self.sink.action.name,
                     pending.delivery.event.id, pending.attempts, outcome, delay)
            self._retried.inc()
            heapq.heappush(self._retries, (now + delay, next(self._sequence), pending))
            self._wakeup.set()  # idle workers wait without a timeout while no retry is scheduled
        return settled
