"""Bulk export and import of the inventory as one versioned document (see docs/scale.md).

The steps, one module each: ``document`` (YAML/JSON text), ``schema`` (each entry on its own,
values parsed by ``virtapi.values``), ``export``, ``check`` (every reference and uniqueness
rule against the document and the database) and ``write`` (multi-row inserts in the caller's
transaction). Import checks the whole document before it writes anything, so it is all or
nothing.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from .check import Errors, check
from .config import import_config
from .document import FORMATS, dump_document, parse_document
from .export import export_inventory
from .schema import FORMAT_VERSION, InventorySchema, flatten_errors
from .write import ImportSummary, write

__all__ = [
    "FORMATS",
    "FORMAT_VERSION",
    "ImportSummary",
    "dump_document",
    "gc_paused",
    "export_inventory",
    "import_inventory",
    "load_document",
    "parse_document",
]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: an import holds millions of new objects that
    all live until it ends, and every collection would walk them again (a sixth of an
    import's CPU time at 20,000 VMs) to find nothing. Reference counting still frees the
    rest; the collector resumes (if it was on) when the import ends."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def load_document(doc: Any) -> dict[str, Any]:
    """``doc`` checked entry by entry against the schema, values in their normal form."""
    if not isinstance(doc, dict):
        raise InvalidInput("an inventory document is a mapping with version, nodes, vms, …")
    try:
        return InventorySchema().load(doc)
    except ValidationError as exc:
        errors = Errors()
        for path, messages in flatten_errors(exc.messages).items():
            for message in messages:
                errors.add(path, message)
        errors.raise_if_any()
        raise  # pragma: no cover - raise_if_any always raises here


def import_inventory(session: Session, doc: Any) -> ImportSummary:
    """Check all of ``doc`` and write it in the caller's transaction, or raise InvalidInput.

    The error's message names the first offending entry (``vms[12].interfaces[0].mac: …``);
    its ``errors`` map lists up to a hundred of them by path. Nothing is written on error.
    """
    with gc_paused():
        data = load_document(doc)
        summary = write(session, data, check(session, data))
        summary.counts.update(import_config(session, data["config"]))
    return summary
