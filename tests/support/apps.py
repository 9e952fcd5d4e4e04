"""The Flask app as the tests build it: one place for the test configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from virtapi.app import create_app


def make_app(db_url: str, instance: Path | str, **overrides: Any) -> Flask:
    """An app on `db_url` with its instance folder at `instance`; `overrides` win."""
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": db_url,
            "DATABASE_READ_URL": None,
            "SECRET_KEY": "test-secret",
            "INSTANCE_PATH": str(instance),
            **overrides,
        }
    )
