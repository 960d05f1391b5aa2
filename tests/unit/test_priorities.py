"""Priority: ordering, parsing of both vendor spellings, and the severity tables."""

from __future__ import annotations

import pytest

from streams.priorities import CEF_SEVERITY, PRIORITY_WORDS, SYSLOG_SEVERITY, Priority


def test_priorities_are_ordered_from_information_to_critical():
    assert sorted(Priority) == [Priority.INFORMATION, Priority.LOW, Priority.MEDIUM, Priority.HIGH,
                                Priority.CRITICAL]
    assert Priority.CRITICAL > Priority.HIGH > Priority.MEDIUM > Priority.LOW > Priority.INFORMATION


def test_priority_words_list_the_most_urgent_first():
    assert PRIORITY_WORDS == ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATION")


@pytest.mark.parametrize("word, expected", [
    ("CRITICAL", Priority.CRITICAL),
    ("high", Priority.HIGH),
    ("Medium", Priority.MEDIUM),
    ("  low\t", Priority.LOW),
    ("INFORMATION", Priority.INFORMATION),
    # The vendor UI's spelling, accepted on input and normalised.
    ("INFORMATIONAL", Priority.INFORMATION),
    ("informational", Priority.INFORMATION),
])
def test_parse_accepts_any_case_and_both_spellings(word, expected):
    assert Priority.parse(word) is expected


@pytest.mark.parametrize("word", ["", "  ", "URGENT", "INFO", "5", "HIGHEST", "CRITICAL!", "_member_map_"])
def test_parse_rejects_unknown_words_naming_what_was_expected(word):
    with pytest.raises(ValueError) as raised:
        Priority.parse(word)
    message = str(raised.value)
    assert message.startswith("expected one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATION (or INFORMATIONAL)")
    assert repr(word) in message


def test_severity_tables_follow_the_vendor_mapping():
    # ads-formats.md: CRITICAL Alert(1)/10, HIGH Critical(2)/8, MEDIUM Error(3)/6, LOW Warning(4)/4,
    # INFORMATION Notice(5)/2.
    assert [(SYSLOG_SEVERITY[p], CEF_SEVERITY[p]) for p in sorted(Priority, reverse=True)] == [
        (1, 10), (2, 8), (3, 6), (4, 4), (5, 2)]
