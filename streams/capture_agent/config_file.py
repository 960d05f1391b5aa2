"""The capture agent's configuration file: its ``capture`` section and, for its own metrics
endpoint, ``metrics``. Other sections are ignored, so the worker's file serves a local agent as it
is, and a remote sensor's file needs nothing else."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict

from streams.config import CaptureSettings, MetricsSettings, Settings, parse_document, read_config_file


class AgentFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    capture: CaptureSettings
    metrics: MetricsSettings = MetricsSettings(port=9466)


def load_agent_settings(path: str | os.PathLike[str]) -> AgentFile:
    """Checked and reported as the worker's configuration is (streams/config.py)."""
    return parse_document(read_config_file(path), str(path), AgentFile)


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
