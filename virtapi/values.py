"""The one parser per value kind: MAC, IP address, CIDR prefix, hostname, name, text, VNI, size,
node network purpose.

REST fields (``api/fields.py``), the import document (``services/transfer``), the install and
PXE checks and the column types all call these functions, so a value the API refuses is refused
by ``virtapi import`` too, and both store the same normal form. This module is a leaf: stdlib
and netaddr only, no models, Flask or SQLAlchemy.

Every parser returns the normal form or raises :class:`InvalidValue` with a message a person can
act on; callers turn it into their own error shape (a marshmallow ValidationError, an
``InvalidInput`` with a field name).

Surrounding whitespace is refused, never stripped, for every kind: names and hostnames always
refused it, and a value that arrives padded was usually mangled by a template on the way, which
is better said than guessed at. The message says what to remove.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import netaddr

MAX_VNI = 2**24 - 1
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# Byte counts (RAM, disk sizes) are 64-bit signed columns and never zero.
MIN_SIZE = 1
MAX_SIZE = INT64_MAX
HOSTNAME_MAX = 253
NAME_MAX = 64
_MAX_MAC_TEXT = 32

# --- the accepted spellings, as patterns the OpenAPI document publishes too -----------------

_HEX2 = "[0-9A-Fa-f]{2}"
_HEX4 = "[0-9A-Fa-f]{4}"
_HEX6 = "[0-9A-Fa-f]{6}"


def _mac_spellings(first: str) -> str:
    """The usual spellings of a MAC whose first two hex digits match ``first``."""
    rest4, rest6, rest12 = f"{first}{_HEX2}", f"{first}{_HEX4}", f"{first}[0-9A-Fa-f]{{10}}"
    return (
        f"{first}(?::{_HEX2}){{5}}|{first}(?:-{_HEX2}){{5}}"
        f"|{rest4}\\.{_HEX4}\\.{_HEX4}|{rest6}[:-]{_HEX6}|{rest12}"
    )


# The usual spellings only: netaddr alone also takes '1' or '52-54-00-00-00-0' as a MAC.
MAC_PATTERN = f"^(?:{_mac_spellings(_HEX2)})$"
# What an interface may have (parse_mac): unicast (the lowest bit of the first octet clear)
# and not all zeros. Published for interface fields, so generated clients know it too.
INTERFACE_MAC_PATTERN = f"^(?![0:.-]+$)(?:{_mac_spellings('[0-9A-Fa-f][02468AaCcEe]')})$"
_LABEL = "(?!-)[a-z0-9-]{1,63}(?<!-)"
_LABEL_RE = re.compile(_LABEL)
# RFC 1123 labels in lower case; the last one not all digits (that would be an address).
HOSTNAME_PATTERN = f"^(?=.{{1,{HOSTNAME_MAX}}}$)(?:{_LABEL}\\.)*(?![0-9]+$){_LABEL}$"
NAME_PATTERN = f"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}$"
_MAC_RE = re.compile(MAC_PATTERN)
_NAME_RE = re.compile(NAME_PATTERN)
_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
SSH_KEY_PATTERN = (
    r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( [\x21-\x7e][\x20-\x7e]{0,254})?$"
)
_SSH_KEY = re.compile(SSH_KEY_PATTERN)
# Characters that change how text is read without being seen: C0 controls (other than tab and
# line breaks), DEL, C1 controls, Unicode line/paragraph separators and bidirectional overrides.
# Kept as regex text (escapes, not the characters) so the same class is published in the
# OpenAPI document, where JSON Schema (ECMA 262) reads these escapes alike.
_INVISIBLE_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_INVISIBLE = re.compile(f"[{_INVISIBLE_CLASS}]")
_LINE_BREAK = re.compile(r"[\r\n]")
# check_text's rule as patterns: free text (tab and line breaks allowed) and one line.
TEXT_PATTERN = f"^[^{_INVISIBLE_CLASS}]*$"
LINE_PATTERN = f"^[^{_INVISIBLE_CLASS}\\r\\n]*$"


class InvalidValue(ValueError):
    """A value of the wrong kind or form; ``str()`` is the message to show."""


def _text_of(value: Any, what: str, example: str) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"{what} must be a string such as {example}")
    if "\x00" in value:
        raise InvalidValue(f"{what} must not contain NUL characters")
    if value != value.strip():
        raise InvalidValue(f"{value!r}: remove the spaces around the {what}")
    return value


# --- MAC ----------------------------------------------------------------------------------


def mac_text(value: Any) -> str:
    """A 48-bit MAC in a usual spelling as ``aa:bb:cc:dd:ee:ff`` (any MAC, unicast or not)."""
    if isinstance(value, netaddr.EUI):
        if value.version != 48:
            raise InvalidValue(f"{value} is not a 48-bit MAC address")
        return str(netaddr.EUI(int(value), dialect=netaddr.mac_unix_expanded))
    text = _text_of(value, "MAC address", "52:54:00:12:34:56")
    lowered = text.lower()
    # The canonical spelling is by far the commonest; the regex below is slower for bulk work.
    if _CANONICAL_MAC.fullmatch(lowered):
        return lowered
    if len(text) > _MAX_MAC_TEXT or not _MAC_RE.fullmatch(text):
        raise InvalidValue(
            f"{value!r} is not a MAC address; write it as 52:54:00:12:34:56, "
            "52-54-00-12-34-56, 5254.0012.3456 or 525400123456"
        )
    digits = re.sub("[^0-9a-f]", "", lowered)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_mac(value: Any) -> netaddr.EUI:
    """The MAC of a network interface: unicast and not all zeros, in a usual spelling."""
    text = mac_text(value)
    if int(text[:2], 16) & 1:
        # Broadcast and multicast addresses cannot belong to a network interface.
        raise InvalidValue(f"{text} is a multicast address; an interface needs a unicast one")
    if text == "00:00:00:00:00:00":
        raise InvalidValue("00:00:00:00:00:00 is no interface's MAC address")
    return netaddr.EUI(text, dialect=netaddr.mac_unix_expanded)


# --- IP addresses and prefixes ------------------------------------------------------------


def parse_ip(value: Any, version: int | None = None) -> netaddr.IPAddress:
    """An IPv4 or IPv6 address (of ``version`` if given) in standard notation, no prefix length.

    Only what inet_pton accepts: no '10.1', no leading zeros ('010.0.0.1' is octal to some
    tools and decimal to others), no zone index.
    """
    what = f"IPv{version} address" if version else "IP address"
    if isinstance(value, netaddr.IPAddress):
        if version and value.version != version:
            raise InvalidValue(f"{value} is not an {what}")
        return value
    text = _text_of(value, what, "192.0.2.1" if version != 6 else "2001:db8::1")
    if "/" in text:
        raise InvalidValue(f"{value!r} is not an {what}: no prefix length here")
    try:
        return netaddr.IPAddress(text, version, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise InvalidValue(f"{value!r} is not an {what}") from None


def parse_cidr(value: Any, version: int | None = None) -> netaddr.IPNetwork:
    """A network prefix in CIDR notation whose host bits are zero (a typo we refuse, not guess)."""
    fam = f"IPv{version}" if version else "IP"
    example = "2001:db8::/64" if version == 6 else "192.0.2.0/24"
    if isinstance(value, netaddr.IPNetwork):  # parsed at the edge already: check, don't reparse
        if version and value.version != version:
            raise InvalidValue(f"{value} is not an {fam} prefix")
        if value.ip != value.network:
            raise InvalidValue(
                f"{value} has host bits set; did you mean {value.network}/{value.prefixlen}?"
            )
        return value
    text = _text_of(value, f"{fam} prefix", example)
    if "/" not in text:
        raise InvalidValue(f"give an {fam} prefix in CIDR notation, e.g. {example}")
    address, _, length = text.partition("/")
    ip = parse_ip(address, version)
    maxlen = 32 if ip.version == 4 else 128
    if not (length.isascii() and length.isdigit()) or not 0 <= int(length) <= maxlen:
        raise InvalidValue(f"prefix length must be 0 to {maxlen}")
    net = netaddr.IPNetwork(f"{ip}/{int(length)}")
    if net.ip != net.network:
        raise InvalidValue(
            f"{value} has host bits set; did you mean {net.network}/{net.prefixlen}?"
        )
    return net


# --- names and text -----------------------------------------------------------------------


def parse_hostname(value: Any) -> str:
    """A hostname or FQDN as it becomes a certname, minion id and file name: RFC 1123 labels in
    lower case, no trailing dot, at most 253 characters, the last label not all digits."""
    if not isinstance(value, str) or not value:
        raise InvalidValue("a hostname must be a non-empty string")
    if len(value) > HOSTNAME_MAX:
        raise InvalidValue(f"a hostname has at most {HOSTNAME_MAX} characters")
    labels = value.split(".")
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise InvalidValue(
            f"{value!r} is not a valid hostname: each dot-separated label has 1-63 "
            "characters a-z, 0-9 and '-', not at the start or end (lower case)"
        )
    if labels[-1].isdigit():
        raise InvalidValue(f"{value!r} looks like an address, not a hostname")
    return value


def parse_name(value: Any) -> str:
    """A short name (pool, VLAN, area, image): letters, digits, '.', '_', '-', alphanumeric
    first, at most 64."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidValue(
            f"a name has 1-{NAME_MAX} characters A-Z, a-z, 0-9, '.', '_' and '-', "
            "and starts with a letter or digit"
        )
    return value


def check_text(value: str, *, multiline: bool = False) -> str:
    """Free text that can be stored: no control characters, no line break unless multiline."""
    if _INVISIBLE.search(value):
        raise InvalidValue("must not contain control characters")
    if not multiline and _LINE_BREAK.search(value):
        raise InvalidValue("must be a single line")
    return value


def parse_ssh_key(value: Any) -> str:
    """One OpenSSH public key on one line: type, base64 blob, optional printable comment."""
    if not isinstance(value, str) or len(value) > 16384 or not _SSH_KEY.fullmatch(value):
        raise InvalidValue("an SSH public key is one line: '<type> <base64> [comment]'")
    return value


SNAPSHOT_NAME_MAX = 64
# Inert in LVM volume names, qcow2 snapshot tags and RBD snapshot names ('@' and '/' are not).
SNAPSHOT_NAME_PATTERN = f"^[a-z0-9][a-z0-9_-]{{0,{SNAPSHOT_NAME_MAX - 1}}}$"
_SNAPSHOT_NAME_RE = re.compile(SNAPSHOT_NAME_PATTERN)


def parse_snapshot_name(value: Any) -> str:
    """A snapshot's name: it becomes part of an LV name, a qcow2 tag and an RBD snapshot name,
    so lower-case letters, digits, '_' and '-', alphanumeric first, at most 64."""
    if not isinstance(value, str) or not _SNAPSHOT_NAME_RE.fullmatch(value):
        raise InvalidValue(
            f"a snapshot name has 1-{SNAPSHOT_NAME_MAX} characters a-z, 0-9, '_' and '-', "
            "and starts with a letter or digit (e.g. before-upgrade-1)"
        )
    return value


# --- systemd calendar expressions (OnCalendar=) --------------------------------------------

_WEEKDAYS = {
    name: index
    for index, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}
# systemd.time(7), "Calendar Events": the shorthands and what they stand for.
CALENDAR_SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
    "semi-annually": "*-01,07-01 00:00:00",
}
_CALENDAR_MAX = 256
_NUMBER = re.compile(r"[0-9]{1,4}")


@dataclass(frozen=True)
class CalendarSpec:
    """A parsed OnCalendar expression; None in a field means any value."""

    weekdays: frozenset[int] | None  # 0 = Monday
    years: frozenset[int] | None
    months: frozenset[int] | None
    days: frozenset[int] | None
    last_days: bool  # days count back from the end of the month ("~")
    hours: frozenset[int] | None
    minutes: frozenset[int] | None
    seconds: frozenset[int] | None
    timezone: str | None


def _number(text: str, what: str) -> int:
    if not _NUMBER.fullmatch(text):
        raise InvalidValue(f"{text!r} is not a number ({what})")
    return int(text)


def _calendar_component(text: str, low: int, high: int, what: str) -> frozenset[int] | None:
    """``*``, a value, a range ``a..b``, a repetition ``a/n`` or ``a..b/n``, comma-separated."""
    if text == "*":
        return None
    out: set[int] = set()
    for part in text.split(","):
        base, slash, repeat = part.partition("/")
        step = _number(repeat, f"{what} repetition") if slash else 1
        if slash and step < 1:
            raise InvalidValue(f"a repetition in {what} must be at least 1")
        if base == "*":
            start, end = low, high
        elif ".." in base:
            first, _, last = base.partition("..")
            start, end = _number(first, what), _number(last, what)
            if start > end:
                raise InvalidValue(f"the range {base} in {what} runs backwards")
        else:
            start = _number(base, what)
            end = high if slash else start
        for value in (start, end):
            if not low <= value <= high:
                raise InvalidValue(f"{what} {value} is outside {low}..{high}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _weekdays(text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        first, dots, last = part.partition("..")
        try:
            start = _WEEKDAYS[first.lower()]
            end = _WEEKDAYS[last.lower()] if dots else start
        except KeyError:
            raise InvalidValue(
                f"{part!r} is not a weekday; use Mon..Sun (or Monday..Sunday), lists with ','"
            ) from None
        if start > end:
            raise InvalidValue(f"the weekday range {part} runs backwards")
        out.update(range(start, end + 1))
    return frozenset(out)


def _timezone(text: str) -> str | None:
    if text.upper() == "UTC":
        return "UTC"
    import zoneinfo  # only when a zone is named: the import costs at start-up

    if "/" in text and text in zoneinfo.available_timezones():
        return text
    return None


def calendar_spec(value: Any) -> CalendarSpec:
    """Parse a systemd ``OnCalendar=`` expression (systemd.time(7)):
    ``[weekdays] [[year-]month-day] [hour:minute[:second]] [timezone]`` or a shorthand such
    as ``daily``. Omitted date: every day; omitted time: 00:00:00."""
    text = _text_of(value, "calendar expression", "Mon..Fri *-*-* 02:00")
    if not text or len(text) > _CALENDAR_MAX:
        raise InvalidValue(f"a calendar expression has 1 to {_CALENDAR_MAX} characters")
    tokens = text.split()
    if len(tokens) == 1 and tokens[0].lower() in CALENDAR_SHORTHANDS:
        tokens = CALENDAR_SHORTHANDS[tokens[0].lower()].split()
    timezone = None
    if len(tokens) > 1 and (zone := _timezone(tokens[-1])) is not None:
        timezone, tokens = zone, tokens[:-1]
    weekdays = None
    if tokens and tokens[0][:1].isalpha():
        weekdays, tokens = _weekdays(tokens[0]), tokens[1:]
    date = time = None
    for token in tokens:
        if ":" in token and time is None:
            time = token
        elif ("-" in token or "~" in token) and date is None and time is None:
            date = token
        else:
            raise InvalidValue(
                f"{token!r} is not understood here; write [weekdays] [year-month-day] "
                "[hour:minute[:second]] [timezone], e.g. 'Mon..Fri *-*-* 02:00'"
            )
    if weekdays is None and date is None and time is None:
        raise InvalidValue("a calendar expression needs a weekday, a date or a time")
    years = months = days = None
    last_days = False
    if date is not None:
        head, tilde, day = date.rpartition("~")
        if tilde:
            parts = [*head.split("-"), day]
            last_days = True
        else:
            parts = date.split("-")
        if len(parts) == 2:
            parts = ["*", *parts]
        if len(parts) != 3:
            raise InvalidValue(f"{date!r} is not a date; write year-month-day or month-day")
        years = _calendar_component(parts[0], 1970, 2199, "year")
        months = _calendar_component(parts[1], 1, 12, "month")
        days = _calendar_component(parts[2], 1, 31, "day")
    hours, minutes, seconds = frozenset({0}), frozenset({0}), frozenset({0})
    if time is not None:
        parts = time.split(":")
        if len(parts) == 2:
            parts.append("00")
        if len(parts) != 3:
            raise InvalidValue(f"{time!r} is not a time; write hour:minute[:second]")
        hours = _calendar_component(parts[0], 0, 23, "hour")
        minutes = _calendar_component(parts[1], 0, 59, "minute")
        seconds = _calendar_component(parts[2], 0, 59, "second")
    return CalendarSpec(weekdays, years, months, days, last_days, hours, minutes, seconds, timezone)


def parse_on_calendar(value: Any) -> str:
    """A systemd ``OnCalendar=`` expression, validated (see :func:`calendar_spec`), as given."""
    calendar_spec(value)
    return value


BACKUP_PATH_PATTERN = r"^(?:[a-z0-9](?:[a-z0-9.-]{0,252}):)?(?:/[A-Za-z0-9._-]+)+/?$"
_BACKUP_PATH_RE = re.compile(BACKUP_PATH_PATTERN)


def parse_backup_path(value: Any) -> str:
    """A backup directory: an absolute path, optionally behind ``host:`` (NFS-style), made of
    letters, digits, '.', '_' and '-' (it ends up in systemd units and shell commands)."""
    text = _text_of(value, "backup path", "backup01.example.net:/srv/backups")
    if len(text) > 1024 or not _BACKUP_PATH_RE.fullmatch(text) or "/../" in text + "/":
        raise InvalidValue(
            f"{text!r} is not a backup path; write /srv/backups or host:/srv/backups "
            "(letters, digits, '.', '_', '-'; no '..')"
        )
    return text


# --- configuration data (issue 18): Puppet classes, Hiera keys, JSON values --------------

PUPPET_CLASS_PATTERN = r"^[a-z][a-z0-9_]*(::[a-z][a-z0-9_]*)*$"
# Hiera keys in the same form: no dots (Hiera reads them as a dig into a hash).
HIERA_KEY_PATTERN = PUPPET_CLASS_PATTERN
PARAMETER_PATTERN = r"^[a-z][a-z0-9_]*$"
CONFIG_KEY_MAX = 200
CONFIG_VALUE_MAX_BYTES = 65536
CONFIG_VALUE_MAX_DEPTH = 16
# A value (or nested hash entry) that is exactly this removes the key set at a lower level.
REMOVE_MARKER = "__remove__"
_PUPPET_CLASS_RE = re.compile(PUPPET_CLASS_PATTERN)
_PARAMETER_RE = re.compile(PARAMETER_PATTERN)
# virtapi derives these classes and keys itself (services/node_document.py, enc/render.py).
_RESERVED = re.compile(r"^virtapi(::|$)")


def _namespaced(value: Any, what: str, example: str, holds: str) -> str:
    text = _text_of(value, what, example)
    if len(text) > CONFIG_KEY_MAX or not _PUPPET_CLASS_RE.fullmatch(text):
        raise InvalidValue(
            f"{text!r} is not a {what}; write lower-case words of letters, digits and '_' "
            f"joined by '::', such as {example}"
        )
    if _RESERVED.match(text):
        raise InvalidValue(f"{text!r}: the virtapi namespace holds the {holds} virtapi derives")
    return text


def parse_class_name(value: Any) -> str:
    """A Puppet class name such as ``profile::motd`` (lower case, ``::`` between parts);
    the ``virtapi`` namespace is virtapi's own."""
    return _namespaced(value, "Puppet class name", "profile::motd", "classes")


def parse_hiera_key(value: Any) -> str:
    """A Hiera key such as ``ntp::servers`` (no dots: Hiera reads them as a dig);
    the ``virtapi`` namespace is virtapi's own."""
    return _namespaced(value, "Hiera key", "ntp::servers", "keys")


def parse_parameter_name(value: Any) -> str:
    """A Puppet class parameter name such as ``message``."""
    text = _text_of(value, "parameter name", "message")
    if len(text) > CONFIG_KEY_MAX or not _PARAMETER_RE.fullmatch(text):
        raise InvalidValue(
            f"{text!r} is not a parameter name; write a lower-case word of letters, digits "
            "and '_', such as message"
        )
    return text


def is_removal(value: Any) -> bool:
    """``{"__remove__": true}``: remove what a lower level set."""
    return isinstance(value, dict) and len(value) == 1 and value.get(REMOVE_MARKER) is True


def _check_json(value: Any, depth: int, where: str) -> None:
    if depth > CONFIG_VALUE_MAX_DEPTH:
        raise InvalidValue(f"{where}: nested deeper than {CONFIG_VALUE_MAX_DEPTH} levels")
    if isinstance(value, str):
        # Hiera interpolates %{...}; a literal one is written %%{...}.
        if "%{" in value.replace("%%{", ""):
            raise InvalidValue(
                f"{where}: '%{{' would be interpolated by Hiera; write '%%{{' for a literal one"
            )
        if "\x00" in value:
            raise InvalidValue(f"{where}: must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(f"{where}: hash keys must be strings")
            _check_json(key, depth + 1, where)
            _check_json(item, depth + 1, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, depth + 1, f"{where}[{index}]")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValue(f"{where}: not a JSON number")
    elif not (value is None or isinstance(value, bool | int)):
        raise InvalidValue(f"{where}: not a JSON value")


def parse_config_value(value: Any, where: str = "value") -> Any:
    """A JSON value for Hiera/ENC/pillar: at most CONFIG_VALUE_MAX_BYTES as JSON and
    CONFIG_VALUE_MAX_DEPTH levels deep, no ``%{`` (Hiera would interpolate it) unless
    written ``%%{``."""
    _check_json(value, 1, where)
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if size > CONFIG_VALUE_MAX_BYTES:
        raise InvalidValue(f"{where}: {size} bytes as JSON, at most {CONFIG_VALUE_MAX_BYTES}")
    return value


def unescape_config_value(value: Any) -> Any:
    """The value as config management gets it: ``%%{`` becomes a literal ``%{``."""
    if isinstance(value, str):
        return value.replace("%%{", "%{") if "%%{" in value else value
    if isinstance(value, dict):
        return {key: unescape_config_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unescape_config_value(item) for item in value]
    return value


# --- numbers ------------------------------------------------------------------------------


# --- node network purposes ----------------------------------------------------------------

# What a node's interface, and the network its addresses come from, is for. VM interfaces and
# VM networks have none.
PURPOSES = ("management", "storage", "backup", "underlay")


def parse_purpose(value: Any) -> str:
    """A node network purpose: one of :data:`PURPOSES`, exactly as spelled there."""
    if not isinstance(value, str) or value not in PURPOSES:
        raise InvalidValue(f"{value!r} is not a purpose; one of: {', '.join(PURPOSES)}")
    return value


def parse_int(value: Any, minimum: int, maximum: int, what: str = "value") -> int:
    """A JSON integer (not a bool, float or string) within ``minimum``..``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{what} must be an integer")
    if not minimum <= value <= maximum:
        raise InvalidValue(f"{what} must be between {minimum} and {maximum}")
    return value


def parse_vni(value: Any) -> int:
    """A VXLAN network identifier, 24 bits, 0 excluded."""
    return parse_int(value, 1, MAX_VNI, "a VNI")


def parse_size(value: Any) -> int:
    """A size in bytes (RAM, disk): positive and within a 64-bit signed column."""
    return parse_int(value, MIN_SIZE, MAX_SIZE, "a size in bytes")


BINARY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_SIZE_TEXT_RE = re.compile(r"([0-9]{1,20}(?:\.[0-9]{1,12})?) ?([KMGTP]?)(?:I?B)?")


def parse_size_text(value: Any, default_unit: int = 1, minimum: int = MIN_SIZE) -> int:
    """A size as people type it, in bytes: "20G", "512M", "1.5 TiB", "20GB"; a bare number
    counts in ``default_unit`` (bytes unless a form says otherwise). Units are binary, as in
    qemu-img and LVM: K, KB and KiB all mean 1024. A JSON integer passes as bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_int(value, minimum, MAX_SIZE, "a size in bytes")
    text = _text_of(value, "a size", '"20G" or "512M"').strip()
    match = _SIZE_TEXT_RE.fullmatch(text.upper())
    if match is None:
        raise InvalidValue(
            f"{text[:40]!r} is no size: give a number and a unit, such as 20G, 512M or 1.5T"
        )
    number, unit = match.groups()
    whole, _, fraction = number.partition(".")
    scale = BINARY_UNITS[unit] if unit else default_unit
    # Exact arithmetic: 1.1G is a whole number of bytes only if the fraction says so.
    numerator = (int(whole) * 10 ** len(fraction) + int(fraction or 0)) * scale
    size, rest = divmod(numerator, 10 ** len(fraction))
    if rest:
        raise InvalidValue(f"{text} is not a whole number of bytes")
    return parse_int(size, minimum, MAX_SIZE, "a size in bytes")


def problem(parser: Any, value: Any, *args: Any, **kwargs: Any) -> str | None:
    """The parser's complaint about ``value``, or None if it is fine."""
    try:
        parser(value, *args, **kwargs)
    except InvalidValue as exc:
        return str(exc)
    return None


# --- Ceph ---------------------------------------------------------------------------------

CEPH_CLIENT_PATTERN = r"^(client\.)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_CEPH_CLIENT_RE = re.compile(CEPH_CLIENT_PATTERN)
CEPHX_KEY_PATTERN = r"^[A-Za-z0-9+/]{38}==$"
# `ceph auth get-key` prints base64 of a 28-byte CryptoKey: u16 type (1 = AES), 8 bytes of
# creation time, u16 length (16), then the 16-byte secret.
_CEPHX_HEADER_LEN = 12


def parse_uuid(value: Any) -> uuid.UUID:
    """A UUID in its usual text form (fsid, libvirt secret uuid)."""
    if isinstance(value, uuid.UUID):
        return value
    text = _text_of(value, "UUID", "6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11")
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidValue(
            f"{text!r} is not a UUID such as 6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11"
        ) from None


def parse_ceph_client_name(value: Any) -> str:
    """A Ceph user name, stored with its type: ``libvirt`` and ``client.libvirt`` are both
    ``client.libvirt``."""
    if not isinstance(value, str) or not _CEPH_CLIENT_RE.fullmatch(value):
        raise InvalidValue(
            f"{value!r} is not a Ceph client name: client.<id> (or just <id>), the id 1-64 "
            "characters A-Z, a-z, 0-9, '.', '_' and '-'"
        )
    return value if value.startswith("client.") else f"client.{value}"


def parse_cephx_key(value: Any) -> str:
    """A cephx secret exactly as ``ceph auth get-key`` prints it (40 characters of base64)."""
    hint = "give the key as `ceph auth get-key client.<id>` prints it (40 characters, ending '==')"
    if not isinstance(value, str) or not re.fullmatch(CEPHX_KEY_PATTERN, value):
        raise InvalidValue(f"not a cephx key: {hint}")
    raw = base64.b64decode(value, validate=True)
    kind, length = struct.unpack_from("<H", raw, 0)[0], struct.unpack_from("<H", raw, 10)[0]
    if kind != 1 or length != 16 or len(raw) != _CEPHX_HEADER_LEN + 16:
        raise InvalidValue(f"not a cephx key (expected an AES key of 16 bytes): {hint}")
    return value


# Each parser's accepted spelling as a pattern, for fields built on the parser to publish
# (services/value_fields.Parsed looks its parser up here): one definition, stated in both places.
PATTERNS: dict[Any, str] = {
    mac_text: MAC_PATTERN,
    parse_mac: INTERFACE_MAC_PATTERN,
    parse_hostname: HOSTNAME_PATTERN,
    parse_name: NAME_PATTERN,
    parse_snapshot_name: SNAPSHOT_NAME_PATTERN,
    parse_backup_path: BACKUP_PATH_PATTERN,
    parse_ssh_key: SSH_KEY_PATTERN,
    parse_ceph_client_name: CEPH_CLIENT_PATTERN,
    parse_cephx_key: CEPHX_KEY_PATTERN,
}
