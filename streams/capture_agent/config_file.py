"""The capture agent's configuration file: its ``capture`` section and, for its own metrics
endpoint, ``metrics``. Other sections are ignored, so the worker's file serves a local agent as it
is, and a remote sensor's file needs nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

# The same checks and messages as the worker's configuration (streams/config.py).
from streams.config import (ENV_METRICS_PORT, CaptureSettings, ConfigError, ConfigIssue, MetricsSettings, Settings,
                            _LineTrackingLoader, _line_index, _nearest_line, _pydantic_message)


class AgentFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    capture: CaptureSettings
    metrics: MetricsSettings = MetricsSettings(port=9466)


def load_agent_settings(path: str | os.PathLike[str]) -> AgentFile:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=_LineTrackingLoader)
        raw = yaml.load(text, Loader=_LineTrackingLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, [ConfigIssue("", f"expected a readable UTF-8 YAML file, found: {exc}")]) from None
    except (yaml.YAMLError, ValueError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(file, [ConfigIssue("(yaml)", f"expected valid YAML, found {getattr(exc, 'problem', exc)}",
                                             mark.line + 1 if mark else None)]) from None
    if not isinstance(raw, dict):
        raise ConfigError(file, [ConfigIssue("", "expected a mapping with a capture section")])
    port = os.environ.get(ENV_METRICS_PORT)
    if port and port.isascii() and port.isdigit() and isinstance(raw.setdefault("metrics", {}), dict):
        raw["metrics"]["port"] = int(port)
    try:
        return AgentFile.model_validate(raw)
    except ValidationError as exc:
        lines = _line_index(node)
        issues = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
            issues.append(ConfigIssue(where, _pydantic_message(error), _nearest_line(lines, where)))
        raise ConfigError(file, issues) from None


def offset_beyond_ttl_notes(settings: Settings) -> list[tuple[str, str]]:
    """(config path, note) for every capture action whose recording start offset exceeds the TTL
    of an interface of its (local) group: the earliest packets it asks for are not kept."""
    capture = settings.capture
    notes = []
    for position, action in enumerate(settings.actions.capture):
        group = capture.group_by_id(action.group) if capture is not None and action.agent == "local" else None
        for interface in group.interfaces if group is not None else []:
            ttl = capture.interfaces[interface].ttl  # type: ignore[union-attr]
            if action.recording_start_offset > ttl:
                notes.append((f"actions.capture.{position}.recording_start_offset",
                              f"{action.recording_start_offset:g} s exceeds the TTL {ttl:g} s of interface "
                              f"{interface} (capture.interfaces.{interface}.ttl): increase the ttl, or the "
                              f"captures miss their earliest packets"))
    return notes
