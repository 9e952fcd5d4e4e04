"""Numbers and times the way a person reads them; registered as Jinja filters."""

from __future__ import annotations

from datetime import UTC, datetime

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(value: int | float | None) -> str:
    """1073741824 → '1 GiB', 2000·10⁹ → '1.82 TiB'; at most three significant digits."""
    if value is None:
        return "—"
    size = float(value)
    unit = 0
    while abs(size) >= 1024 and unit < len(_BINARY_UNITS) - 1:
        size /= 1024
        unit += 1
    if unit == 0:
        return f"{int(size)} B"
    text = f"{size:.0f}" if abs(size) >= 100 else f"{size:.3g}"
    return f"{text} {_BINARY_UNITS[unit]}"


def human_rate(value: int | None) -> str:
    """A bytes-per-second limit."""
    return "—" if value is None else f"{human_bytes(value)}/s"


def percent(part: float, whole: float) -> str:
    if not whole:
        return "—"
    share = 100 * part / whole
    if 0 < share < 1:
        return "<1%"
    return f"{share:.0f}%"


def human_count(value: int) -> str:
    """Address counts: exact up to a billion, then as a power of two when it is one."""
    if value < 10**9:
        return f"{value:,}".replace(",", "\u202f")
    if value & (value - 1) == 0:
        return f"2^{value.bit_length() - 1}"
    return f"{value:.2e}"


def relative_time(when: datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 minutes ago', '3 days ago', 'in 2 hours'; '—' for never."""
    if when is None:
        return "—"
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    units = ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"), (3600, "hour"))
    size, name = next(((size, name) for size, name in units if seconds >= size), (60, "minute"))
    count = max(1, int(seconds // size))  # whole units, and "1 minute" from 45 s on
    label = f"{count} {name}{'' if count == 1 else 's'}"
    return f"in {label}" if future else f"{label} ago"


def iso_time(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def gib(value: int | None) -> str:
    """Bytes as the GiB number a form field shows (4294967296 → '4', 1.5 GiB → '1.5')."""
    return "" if value is None else f"{value / 1024**3:.10g}"


def exact_size(value: int | None) -> str:
    """Bytes as form text that reads back to the same number: 274877906944 → '256G',
    1.5 GiB → '1536M', 1000 → '1000' (``values.parse_size_text`` reads all three)."""
    if value is None:
        return ""
    for letter, unit in (
        ("P", 1024**5),
        ("T", 1024**4),
        ("G", 1024**3),
        ("M", 1024**2),
        ("K", 1024),
    ):
        if value and value % unit == 0:
            return f"{value // unit}{letter}"
    return str(value)


def parsed_time(text: str | None) -> datetime | None:
    """A time as the API's representation writes it (ISO 8601), for pages that show one."""
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


FILTERS = {
    "as_time": parsed_time,
    "gib": gib,
    "exact_size": exact_size,
    "bytes": human_bytes,
    "rate": human_rate,
    "count": human_count,
    "ago": relative_time,
    "iso": iso_time,
}
