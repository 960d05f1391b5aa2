"""parse_duration: the duration syntax of the configuration file."""

from __future__ import annotations

import pytest

from streams.durations import parse_duration


@pytest.mark.parametrize("value, seconds", [
    (0, 0.0),
    (90, 90.0),
    (1.5, 1.5),
    ("90", 90.0),
    ("500ms", 0.5),
    ("5s", 5.0),
    ("2.5s", 2.5),
    ("10m", 600.0),
    ("6h", 21600.0),
    ("7d", 604800.0),
    ("2w", 1209600.0),
    (" 30 s ", 30.0),
])
def test_parse_duration_gives_seconds(value, seconds):
    result = parse_duration(value)
    assert result == seconds
    assert isinstance(result, float)


@pytest.mark.parametrize("value", [
    -1, -0.5, "-5s", "", "s", "5x", "5 minutes", "1e5", ".5s", "5s5", "5mss", True, False, None, [5], {"s": 5},
])
def test_parse_duration_rejects_what_is_not_a_duration(value):
    with pytest.raises(ValueError, match="^expected a (non-negative |finite )?duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"),
    # float() of an integer this large raised OverflowError, which pydantic does not turn into a
    # validation error: the whole configuration load crashed.
    10**400,
    # ... and a digit string this long became inf.
    "1" + "0" * 400 + "s",
])
def test_parse_duration_rejects_non_finite_durations(value):
    with pytest.raises(ValueError, match="^expected a finite duration"):
        parse_duration(value)
