"""What a name may look like before it reaches Puppet, Salt, iPXE or installimage.

Values from customers end up in generated YAML, iPXE scripts and installimage configs, so they are
restricted to characters that are inert in all of them, rather than escaped in each. The rules
themselves live in ``virtapi.values``; these wrap them for the services' error shape.
"""

from __future__ import annotations

from typing import Any

from .. import values
from .errors import InvalidInput


def hostname_problem(value: Any) -> str | None:
    """Why ``value`` is not a usable hostname/FQDN (RFC 1123, lower case), or None if it is."""
    return values.problem(values.parse_hostname, value)


def validate_hostname(value: Any, field: str = "hostname") -> str:
    return checked(values.parse_hostname, value, field)


def name_problem(value: Any) -> str | None:
    """Short names (pools, VLANs, images): letters, digits, '.', '_', '-'; starting alphanumeric."""
    return values.problem(values.parse_name, value)


def validate_name(value: Any, field: str = "name") -> str:
    return checked(values.parse_name, value, field)


def ssh_key_problem(value: Any) -> str | None:
    """One OpenSSH public key on one line: type, base64 blob, optional printable comment."""
    return values.problem(values.parse_ssh_key, value)


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why free text cannot be stored (control characters; line breaks in a single-line field)."""
    return values.problem(values.check_text, value, multiline=multiline)


def checked(parser: Any, value: Any, field: str) -> Any:
    """``parser(value)``, its InvalidValue as an InvalidInput naming ``field``."""
    try:
        return parser(value)
    except values.InvalidValue as exc:
        raise InvalidInput(str(exc), errors={field: [str(exc)]}) from None
