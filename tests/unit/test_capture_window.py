"""The capture window (the later of detection - offset and the first flow; offset 0: live only),
the ring buffer layout chosen from TTL and disk, and the notes on a past window beyond the TTL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from streams.capture_agent.window import capture_start, past_window_notes, ring_layout

DETECTED = datetime(2025, 11, 3, 15, 10, 43, tzinfo=timezone.utc)


def test_the_start_is_detection_minus_the_offset_when_the_first_flow_is_earlier():
    assert capture_start(DETECTED, DETECTED - timedelta(hours=1), 300) == DETECTED - timedelta(seconds=300)


def test_the_start_is_the_first_flow_when_it_is_later():
    assert capture_start(DETECTED, DETECTED - timedelta(seconds=20), 300) == DETECTED - timedelta(seconds=20)


def test_without_a_first_flow_the_offset_decides():
    assert capture_start(DETECTED, None, 60) == DETECTED - timedelta(seconds=60)


def test_offset_zero_means_live_traffic_only():
    assert capture_start(DETECTED, DETECTED - timedelta(seconds=20), 0) is None


@pytest.mark.parametrize("ttl, max_disk, files, expected", [
    (3600, 1_000_000_000, 10, (400, 10, 97656)),   # 9 full files cover the hour
    (4, 20_000_000, 5, (1, 5, 3906)),
    (10, 1_000_000, 3, (5, 3, 325)),
    (1, 1_000_000, 2, (1, 2, 488)),
])
def test_the_ring_keeps_the_ttl_in_its_full_files_within_the_disk_bound(ttl, max_disk, files, expected):
    layout = ring_layout(ttl, max_disk, files)
    assert (layout.file_seconds, layout.files, layout.file_kilobytes) == expected
    assert layout.file_seconds * (layout.files - 1) >= ttl
    assert layout.file_kilobytes * 1024 * layout.files <= max_disk
    assert layout.dumpcap_options() == ["-b", f"duration:{expected[0]}", "-b", f"files:{expected[1]}",
                                        "-b", f"filesize:{expected[2]}"]


def test_no_notes_for_a_window_the_ring_holds():
    assert past_window_notes(1000.0, 1010.0, "eth1", 60, ring_since=900.0, offset=10) == []
    assert past_window_notes(None, 1010.0, "eth1", 60, ring_since=None, offset=0) == []


def test_an_offset_beyond_the_ttl_is_noted():
    [note] = past_window_notes(1000.0, 1300.0, "eth1", 60, ring_since=0.0, offset=300)
    assert note.startswith("recording start offset 300 s exceeds the TTL 60 s of interface eth1")


def test_a_window_older_than_the_ttl_because_of_a_late_delivery_is_noted():
    [note] = past_window_notes(1000.0, 1100.0, "eth1", 60, ring_since=0.0, offset=30)
    assert "100 s before the live recording, beyond the TTL 60 s" in note


def test_a_ring_younger_than_the_window_or_not_running_is_noted():
    [younger] = past_window_notes(1000.0, 1010.0, "eth1", 60, ring_since=1005.0, offset=10)
    assert "holds packets since 1005.000 only" in younger
    [stopped] = past_window_notes(1000.0, 1010.0, "eth1", 60, ring_since=None, offset=10)
    assert "is not running" in stopped
