"""A small, fast YAML emitter for JSON-shaped data (dict, list, str, int, float, bool, None).

PyYAML's representer is pure Python even with libyaml's emitter and needs about half a
second for a hypervisor with 100 VMs; this writes the same block-style YAML some fifty
times faster. Strings that could be misread (YAML 1.1 booleans, numbers, anything with
special characters) are written as double-quoted scalars using JSON's escapes, which are
a subset of YAML's. Round-tripping through `yaml.safe_load` (and Puppet's Psych) is
asserted by tests/enc/test_emit.py.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

# Plain (unquoted) only when it starts with a letter, holds nothing YAML treats specially
# and is not one of YAML 1.1's implicit booleans or nulls.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./@-]*(?:::[A-Za-z0-9_./@-]+)*\Z")
_RESERVED = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf"})
# JSON leaves these unescaped, but YAML either forbids them in a stream (C1 controls,
# DEL, U+FFFE/U+FFFF) or reads them as line breaks (NEL, LS, PS) or a BOM.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04X}"


# Keys ("uuid", "hostname" …) and many values repeat hundreds of times per document.
@lru_cache(maxsize=8192)
def _string(value: str) -> str:
    if _PLAIN.match(value) and value.lower() not in _RESERVED:
        return value
    return _YAML_UNSAFE.sub(_escape, json.dumps(value, ensure_ascii=False))


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        # YAML 1.1 only reads a float with a dot in the mantissa (1e+16 would be a string).
        if "." not in mantissa:
            mantissa += ".0"
        return mantissa + e + exponent
    raise TypeError(f"cannot emit {type(value).__name__} as YAML")


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Append the block-style body of a non-empty dict or list, each line indented."""
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{indent}{_string(str(key))}:"
            if isinstance(item, (dict, list)) and item:
                out.append(head)
                # Lists under a key may sit at the key's own indentation (as PyYAML does).
                _emit(item, indent if isinstance(item, list) else indent + "  ", out)
            else:
                out.append(f"{head} {_inline(item)}")
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner: list[str] = []
                _emit(item, indent + "  ", inner)
                # The first line of the nested block goes on the dash's line.
                out.append(f"{indent}- {inner[0][len(indent) + 2 :]}")
                out.extend(inner[1:])
            else:
                out.append(f"{indent}- {_inline(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(data: Any) -> str:
    """YAML for JSON-shaped data, starting with a document marker."""
    if isinstance(data, (dict, list)) and data:
        out: list[str] = ["---"]
        _emit(data, "", out)
        return "\n".join(out) + "\n"
    return f"--- {_inline(data)}\n"
