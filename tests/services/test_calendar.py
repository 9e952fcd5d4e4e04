"""OnCalendar expressions: the pure-Python validator and next-elapse agree with systemd's own
``systemd-analyze calendar`` (skipped where systemd-analyze is missing)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from virtapi import values
from virtapi.services.calendar import next_elapse

VALID = [
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "semiannually",
    "hourly",
    "Mon..Fri *-*-* 02:00",
    "Sat,Sun 03:30",
    "*-*-* 04:15:00",
    "*-*-01 01:00",
    "*-01,07-01 00:00",
    "2027-*-* 00:00",
    "*-*-* 0/6:00",
    "*-*-* 01..05:30",
    "*-*-* *:0/15",
    "*-02~01 23:00",
    "Fri *-*-1..7 05:00",
    "*-*-* 02:00 UTC",
    "Mon 12:00 Europe/Berlin",
    "monday *-*-* 00:00",
    "12-24 18:00",
]
INVALID = [
    "",
    " daily",
    "sometimes",
    "*-*-* 25:00",
    "*-13-01",
    "*-*-32",
    "Mon..Fry 02:00",
    "*-*-* 02:60",
    "*-*-* 5..3:00",
    "1969-01-01",
    "02:00 03:00",
    "*-*-* 02:00 Mars/Olympus",
    "Fri..Mon 02:00",
]


@pytest.mark.parametrize("expression", VALID)
def test_valid_expressions(expression: str) -> None:
    assert values.parse_on_calendar(expression) == expression


@pytest.mark.parametrize("expression", INVALID)
def test_invalid_expressions_are_refused(expression: str) -> None:
    assert values.problem(values.parse_on_calendar, expression)


def test_next_elapse_examples() -> None:
    base = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # a Thursday
    assert next_elapse("daily", base) == datetime(2026, 12, 4, tzinfo=UTC)
    assert next_elapse("Mon..Fri *-*-* 02:00", base) == datetime(2026, 12, 4, 2, tzinfo=UTC)
    assert next_elapse("Sat,Sun 03:30", base) == datetime(2026, 12, 5, 3, 30, tzinfo=UTC)
    assert next_elapse("*-*-* *:0/15", base) == datetime(2026, 12, 3, 10, 15, tzinfo=UTC)
    assert next_elapse("*-02~01 23:00", base) == datetime(2027, 2, 28, 23, tzinfo=UTC)
    assert next_elapse("*-02-29 00:00", base) == datetime(2028, 2, 29, tzinfo=UTC)
    assert next_elapse("*-02-30", base) is None


SYSTEMD = shutil.which("systemd-analyze")
_NEXT = re.compile(r"Next elapse: \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def _systemd(expression: str) -> tuple[bool, datetime | None]:
    done = subprocess.run(
        [SYSTEMD or "systemd-analyze", "calendar", expression],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
        timeout=30,
    )
    match = _NEXT.search(done.stdout)
    at = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC) if match else None
    return done.returncode == 0, at


@pytest.mark.skipif(SYSTEMD is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("expression", [e for e in VALID + INVALID if e and e == e.strip()])
def test_agrees_with_systemd_analyze(expression: str) -> None:
    before = datetime.now(UTC)
    accepted, at = _systemd(expression)
    after = datetime.now(UTC)
    assert accepted == (values.problem(values.parse_on_calendar, expression) is None)
    if accepted and at is not None:
        # The second may tick between the two runs: ours from either side must match.
        assert at in (next_elapse(expression, before), next_elapse(expression, after))
