"""Small helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from virtapi.db import Database
from virtapi.models import Vm

GiB = 1024**3


def H(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def db_of(app: Any) -> Database:
    return app.extensions["virtapi.db"]


def vm_id(app: Any, short: str) -> int:
    """The id of a demo VM by its short hostname (web1, db1, app1 …)."""
    with db_of(app).session() as s:
        return s.scalar(select(Vm.id).where(Vm.hostname.like(f"{short}.%")))
