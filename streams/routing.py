"""Perspectives and routing: which priority an event gets in each perspective, and which actions
it is routed to. Pure functions of (event, settings), compiled once from the configuration.

Conflict rule: when several rules of one perspective match, the highest priority wins. Rules are
indexed by event type and kept sorted by priority, so evaluation stops at the first match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .config import ACTION_KINDS, Action, Rule, Settings
from .events import AdsEvent, IdsEvent
from .filters import IpSet, compile_filters
from .priorities import Priority

Event = AdsEvent | IdsEvent

# The only actions the seed runs on IDS events are custom scripts.
IDS_ACTION_KINDS = ("script",)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    priority: Priority
    subtypes: frozenset[str] | None
    method_instances: frozenset[str] | None
    data_feeds: frozenset[str] | None
    source: IpSet | None
    target: IpSet | None

    def matches(self, event: Event) -> bool:
        if self.subtypes is not None and event.subtype not in self.subtypes:
            return False
        if self.method_instances is not None and event.method_instance not in self.method_instances:
            return False
        if self.data_feeds is not None and event.data_feed not in self.data_feeds:
            return False
        if self.source is not None and not self.source.contains(event.source_ip):
            return False
        if self.target is not None and not any(self.target.contains(ip) for ip in event.target_ips):
            return False
        return True


@dataclass(frozen=True)
class CompiledPerspective:
    name: str
    id: int
    rules_by_type: dict[str, tuple[CompiledRule, ...]]

    def priority_of(self, event: Event) -> Priority | None:
        """The highest priority of the matching rules, or None when no rule matches."""
        for rule in self.rules_by_type.get(event.type, ()):
            if rule.matches(event):
                return rule.priority
        return None


@dataclass(frozen=True, slots=True)
class Route:
    """One routed message to be: this event goes to this action with this priority."""

    kind: str
    topic: str
    action: str
    perspective: str
    perspective_id: int
    priority: Priority

    def message_key(self, event: Event) -> bytes:
        """Keys make each later aggregation partition-local (docs/architecture.md):
        email reports aggregate per (report, priority) -- RT groups per type and source IP are a
        subset of that -- and every other action deduplicates per (action, event ID)."""
        if self.kind == "email":
            return report_message_key(self.action, self.priority)
        return f"{self.action}|{event.id}".encode()


def report_message_key(report: str, priority: Priority) -> bytes:
    """The key of every event routed to one report with one priority: its periods' partition."""
    return f"{report}|{priority.name}".encode()


def _optional_set(values: list[str]) -> frozenset[str] | None:
    return frozenset(values) if values else None


def _compile_rule(rule: Rule, filters: dict[str, IpSet]) -> CompiledRule:
    return CompiledRule(
        priority=rule.priority,
        subtypes=_optional_set(rule.subtypes),
        method_instances=_optional_set(rule.method_instances),
        data_feeds=_optional_set(rule.data_feeds),
        source=filters[rule.source] if rule.source else None,
        target=filters[rule.target] if rule.target else None,
    )


class Router:
    """Compiled perspectives plus the actions bound to each of them."""

    def __init__(self, settings: Settings):
        filters = compile_filters({name: spec.definition() for name, spec in settings.filters.items()})
        self.perspectives: list[CompiledPerspective] = []
        for name, perspective in settings.perspectives.items():
            by_type: dict[str, list[CompiledRule]] = {}
            for rule in perspective.rules:
                compiled = _compile_rule(rule, filters)
                for event_type in rule.types:
                    by_type.setdefault(event_type, []).append(compiled)
            self.perspectives.append(CompiledPerspective(
                name=name,
                id=perspective.id,
                # sorted() is stable: among equal priorities the first written rule is tried first.
                rules_by_type={t: tuple(sorted(rules, key=lambda r: -r.priority)) for t, rules in by_type.items()},
            ))
        topics = settings.topics.actions
        self._actions: dict[str, list[tuple[str, str, Action]]] = {p.name: [] for p in self.perspectives}
        for kind, actions in settings.actions.by_kind().items():
            for action in actions:
                if action.active:
                    self._actions[action.perspective].append((kind, getattr(topics, kind), action))

    def priorities(self, event: Event) -> dict[str, Priority | None]:
        return {p.name: p.priority_of(event) for p in self.perspectives}

    def routes(self, event: Event, priorities: dict[str, Priority | None] | None = None) -> list[Route]:
        """One route per active action whose perspective gives the event at least its min_priority.
        ``priorities`` avoids evaluating the perspectives twice when the caller has them."""
        if priorities is None:
            priorities = self.priorities(event)
        kinds: Iterable[str] = IDS_ACTION_KINDS if isinstance(event, IdsEvent) else ACTION_KINDS
        routes = []
        for perspective in self.perspectives:
            priority = priorities[perspective.name]
            if priority is None:
                continue
            for kind, topic, action in self._actions[perspective.name]:
                if kind in kinds and priority >= action.min_priority:
                    routes.append(Route(kind, topic, action.name, perspective.name, perspective.id, priority))
        return routes
