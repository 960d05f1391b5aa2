"""The metric names a PromQL expression reads, and the names the router exports.

A small lexer, not a PromQL parser: our expressions are checked by Prometheus itself elsewhere
(promtool, and the end-to-end test); this only has to find every metric name in them.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from sinks.metrics import ReportMetrics, SinkMetrics
from streams.capture_agent.metrics import CaptureMetrics
from streams.metrics import RouterMetrics

# Names Prometheus adds to every target's series itself, not exported by the worker.
SCRAPE_SERIES = frozenset({"up"})

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_LABEL_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "atan2", "inf", "nan"})

# The series each metric type exposes, as suffixes of the family name prometheus_client reports.
_SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def metric_names_in(expr: str) -> set[str]:
    """Every metric name the expression selects: identifiers that are not function or aggregation
    names (followed by a parenthesis), keywords, label names or label values."""
    for pattern in (_STRING, _LABEL_MATCHERS, _RANGE, _LABEL_LIST, _OFFSET, _GRAFANA_VARIABLE, _NUMBER):
        expr = pattern.sub(" ", expr)
    names = set()
    for match in _IDENTIFIER.finditer(expr):
        is_call = expr[match.end():].lstrip().startswith("(")
        if not is_call and match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def series_by_family() -> dict[str, set[str]]:
    """The worker's metrics (router and sinks) on a fresh registry: each metric's base name
    (counters without _total) and the series names a worker exposes for it."""
    registry = CollectorRegistry()
    RouterMetrics(registry)
    SinkMetrics(registry)
    ReportMetrics(registry)
    CaptureMetrics(registry)
    return {family.name: {family.name + suffix for suffix in _SERIES_SUFFIXES[family.type]}
            for family in registry.collect()}


def exported_series_names() -> set[str]:
    return set().union(*series_by_family().values())
