"""Retention: oldest first, by age, then by total size."""

from __future__ import annotations

from streams.capture_agent.retention import AGE, SIZE, StoredCapture, expired_captures

DAY = 86400.0


def stored(name: str, age_days: float, size: int, now: float = 100 * DAY) -> StoredCapture:
    return StoredCapture(name, now - age_days * DAY, size)


def names(expired):
    return [(capture.capture_id, reason) for capture, reason in expired]


def test_nothing_expires_within_both_bounds():
    assert expired_captures([stored("a", 1, 10), stored("b", 2, 10)], 100 * DAY, 30 * DAY, 100) == []


def test_captures_older_than_the_maximal_age_are_deleted():
    captures = [stored("new", 1, 10), stored("old", 31, 10), stored("older", 40, 10)]
    assert names(expired_captures(captures, 100 * DAY, 30 * DAY, 1000)) == [("older", AGE), ("old", AGE)]


def test_the_oldest_go_until_the_rest_fits_the_size_bound():
    captures = [stored("c", 1, 40), stored("a", 3, 40), stored("b", 2, 40), stored("d", 0, 40)]
    assert names(expired_captures(captures, 100 * DAY, 30 * DAY, 100)) == [("a", SIZE), ("b", SIZE)]


def test_age_deletions_count_towards_the_size_bound():
    captures = [stored("old", 40, 100), stored("mid", 2, 50), stored("new", 1, 50)]
    assert names(expired_captures(captures, 100 * DAY, 30 * DAY, 100)) == [("old", AGE)]


def test_one_capture_larger_than_the_bound_is_deleted_too():
    assert names(expired_captures([stored("huge", 0, 500)], 100 * DAY, 30 * DAY, 100)) == [("huge", SIZE)]
