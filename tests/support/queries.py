"""The one SQL statement counter of the tests: what an engine sends while a block runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement `engine` sends while the block runs, in order."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def statements_per_path(engine: Engine, fetch: Any, paths: list[str]) -> dict[str, int]:
    """How many statements ``fetch(path)`` (a page or API GET) sends, per path."""
    out = {}
    for path in paths:
        with statements_sent(engine) as statements:
            fetch(path)
        out[path] = len(statements)
    return out
