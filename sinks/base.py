"""The sink interface: what a delivery channel implements, and what it is given.

A sink does one thing: carry out a batch of deliveries for one action and say, per delivery,
whether it worked. Everything around it (decoding, mute, dedup, retry with backoff, dead letters,
metrics, offsets) is the pipeline's (``sinks/pipeline.py``), the same for every channel, as in
Alertmanager's notify/ and quixstreams' sinks/base.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Sequence

from streams.config import Action, Settings
from streams.events import AdsEvent, IdsEvent
from streams.priorities import Priority

if TYPE_CHECKING:
    from .metrics import SinkMetrics


@dataclass(frozen=True, slots=True)
class Delivery:
    """One routed action to carry out: a decoded RoutedAction, and where it was read from (to
    dead-letter it with its original bytes and re-drive it to the same place)."""

    action: str
    kind: str
    perspective: str
    perspective_id: int
    priority: Priority
    routed_at: datetime
    event: AdsEvent | IdsEvent
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def dedup_key(self) -> str:
        """ADS and IDS event IDs are separate sequences, and a script action receives both."""
        family = "ids" if isinstance(self.event, IdsEvent) else "ads"
        return f"{self.action}|{family}:{self.event.id}"

    @property
    def detected_at(self) -> datetime:
        return self.event.first_seen if isinstance(self.event, IdsEvent) else self.event.detected_at


class DeliveryFailed(Exception):
    """A delivery that did not happen. ``reason`` is a short code for metrics and the dead-letter
    header (``connection_refused``, ``timeout``, ``exit_status``...); ``detail`` says what
    happened; ``permanent`` skips the remaining tries (retrying cannot help)."""

    def __init__(self, reason: str, detail: str, *, permanent: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.permanent = permanent


Outcome = DeliveryFailed | None


class Sink(abc.ABC):
    """One action's delivery channel. Created once per action when the worker starts; ``start``
    opens what it needs (sockets, engines), ``stop`` closes it.

    ``deliver`` may be called again before an earlier call returned, up to ``concurrency`` calls
    at once, each with at most ``max_batch`` deliveries. It returns one outcome per delivery, in
    order, and raises only for bugs: an I/O problem is a DeliveryFailed outcome.
    """

    kind: ClassVar[str]
    # The settings class of this kind's actions; a sink is refused any other.
    action_type: ClassVar[type[Action]]

    def __init__(self, action: Action, settings: Settings, metrics: "SinkMetrics"):
        if not isinstance(action, self.action_type):
            raise TypeError(f"{type(self).__name__} needs a {self.action_type.__name__}, got {type(action).__name__}")
        self.action = action
        self.settings = settings
        self.metrics = metrics

    @property
    def max_batch(self) -> int:
        return 100

    @property
    def concurrency(self) -> int:
        return 1

    async def start(self) -> None:
        pass

    @abc.abstractmethod
    async def deliver(self, batch: Sequence[Delivery]) -> list[Outcome]:
        ...

    async def stop(self) -> None:
        pass
