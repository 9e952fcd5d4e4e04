"""When a systemd calendar expression next elapses: for backup schedules' overdue check.

Pure Python over :class:`virtapi.values.CalendarSpec`; expressions without a time zone are
taken as UTC (the hypervisors' timers run in UTC). Searches day by day, at most ``HORIZON``
days ahead, so an expression that never elapses (``*-02-30``) answers None.
"""

from __future__ import annotations

import calendar as cal
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..values import CalendarSpec, calendar_spec

HORIZON = 366 * 8  # leap days (*-02-29) recur within 8 years


def _day_matches(spec: CalendarSpec, day: date) -> bool:
    if spec.years is not None and day.year not in spec.years:
        return False
    if spec.months is not None and day.month not in spec.months:
        return False
    if spec.weekdays is not None and day.weekday() not in spec.weekdays:
        return False
    if spec.days is None:
        return True
    if spec.last_days:
        # ~1 is the last day of the month, ~2 the one before, …
        return cal.monthrange(day.year, day.month)[1] - day.day + 1 in spec.days
    return day.day in spec.days


def _values(allowed: frozenset[int] | None, high: int) -> list[int]:
    return sorted(allowed) if allowed is not None else list(range(high + 1))


def _first_time(
    spec: CalendarSpec, after: tuple[int, int, int] | None
) -> tuple[int, int, int] | None:
    """The earliest matching time of day strictly later than ``after`` (None: any)."""
    for hour in _values(spec.hours, 23):
        if after is not None and hour < after[0]:
            continue
        for minute in _values(spec.minutes, 59):
            if after is not None and (hour, minute) < after[:2]:
                continue
            for second in _values(spec.seconds, 59):
                if after is None or (hour, minute, second) > after:
                    return hour, minute, second
    return None


def next_elapse(expression: str | CalendarSpec, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` the expression matches, in UTC; None if none
    within the horizon."""
    spec = expression if isinstance(expression, CalendarSpec) else calendar_spec(expression)
    zone = ZoneInfo(spec.timezone) if spec.timezone and spec.timezone != "UTC" else UTC
    local = after.astimezone(zone).replace(microsecond=0)
    day = local.date()
    for offset in range(HORIZON):
        current = day + timedelta(days=offset)
        if not _day_matches(spec, current):
            continue
        floor = (local.hour, local.minute, local.second) if offset == 0 else None
        found = _first_time(spec, floor)
        if found is not None:
            return datetime(*current.timetuple()[:3], *found, tzinfo=zone).astimezone(UTC)
    return None
