"""The inventory document as text: YAML or JSON in, YAML or JSON out."""

from __future__ import annotations

import json
from typing import Any

import yaml

from ..errors import InvalidInput

FORMATS = ("yaml", "json")
# libyaml's C loader and dumper are ~10x faster than the pure-Python ones on a large fleet.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YamlDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse_document(raw: str | bytes, fmt: str | None = None) -> Any:
    """A YAML or JSON document (JSON is YAML, but the JSON parser is faster); InvalidInput if
    it does not parse."""
    try:
        if fmt == "json" or (fmt is None and raw.lstrip()[:1] in ("{", b"{")):
            return json.loads(raw)
        return yaml.load(raw, Loader=_YamlLoader)  # noqa: S506 - a safe loader
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"the document does not parse as {fmt or 'YAML or JSON'}: {exc}"
        ) from None


def dump_document(doc: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    return yaml.dump(doc, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True)
