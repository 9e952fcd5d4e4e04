"""What a name may look like before it reaches Puppet, Salt, iPXE or installimage.

Values from customers end up in generated YAML, iPXE scripts and installimage configs, so they are
restricted to characters that are inert in all of them, rather than escaped in each.
"""

from __future__ import annotations

import re

from .errors import InvalidInput

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SSH_KEY = re.compile(
    r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( [\x21-\x7e][\x20-\x7e]{0,254})?$"
)


def hostname_problem(value: str) -> str | None:
    """Why ``value`` is not a usable hostname/FQDN (RFC 1123, lower case), or None if it is."""
    if not isinstance(value, str) or not value:
        return "a hostname must be a non-empty string"
    if len(value) > 253:
        return "a hostname has at most 253 characters"
    labels = value.split(".")
    for label in labels:
        if not _LABEL.fullmatch(label):
            return (
                f"{value!r} is not a valid hostname: each dot-separated label has 1-63 "
                "characters a-z, 0-9 and '-', not at the start or end (lower case)"
            )
    if labels[-1].isdigit():
        return f"{value!r} looks like an address, not a hostname"
    return None


def validate_hostname(value: str, field: str = "hostname") -> str:
    problem = hostname_problem(value)
    if problem:
        raise InvalidInput(problem, errors={field: [problem]})
    return value


def name_problem(value: str) -> str | None:
    """Short names (pools, VLANs, images): letters, digits, '.', '_', '-'; starting alphanumeric."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        return (
            "a name has 1-64 characters A-Z, a-z, 0-9, '.', '_' and '-', "
            "and starts with a letter or digit"
        )
    return None


def validate_name(value: str, field: str = "name") -> str:
    problem = name_problem(value)
    if problem:
        raise InvalidInput(problem, errors={field: [problem]})
    return value


def ssh_key_problem(value: str) -> str | None:
    """One OpenSSH public key on one line: type, base64 blob, optional printable comment."""
    if not isinstance(value, str) or len(value) > 16384 or not _SSH_KEY.fullmatch(value):
        return "an SSH public key is one line: '<type> <base64> [comment]'"
    return None


# Characters that change how text is read without being seen: C0 controls (other than tab and
# line breaks), DEL, C1 controls, Unicode line/paragraph separators and bidirectional overrides.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAK = re.compile(r"[\r\n]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why free text cannot be stored (control characters; line breaks in a single-line field)."""
    if _INVISIBLE.search(value):
        return "must not contain control characters"
    if not multiline and _LINE_BREAK.search(value):
        return "must be a single line"
    return None
