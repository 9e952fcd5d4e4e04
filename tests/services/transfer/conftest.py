"""A second database for round trips: export from one, import into the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_database


@pytest.fixture
def other_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh, migrated database on the same backend as ``db_url``."""
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    name = db_url.rsplit("/", 1)[1] + "_other"
    with fresh_database(request, backend, tmp_path / "other.sqlite", name) as url:
        yield url
