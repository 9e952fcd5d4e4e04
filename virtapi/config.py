"""Settings from the environment (``VIRTAPI_*``), with an embedded SQLite default."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

DEFAULT_INSTANCE = Path(__file__).resolve().parent.parent / "instance"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def instance_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    return Path(env.get("VIRTAPI_INSTANCE_PATH") or DEFAULT_INSTANCE)


def default_database_url(instance: Path) -> str:
    return f"sqlite:///{instance / 'virtapi.sqlite'}"


def _secret_key(env: dict[str, str], instance: Path) -> str:
    """A configured key, or one kept in the instance folder so every worker signs alike."""
    if env.get("VIRTAPI_SECRET_KEY"):
        return env["VIRTAPI_SECRET_KEY"]
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Flask config mapping; every key can be overridden by the ``overrides`` of create_app."""
    env = dict(os.environ) if env is None else env
    instance = instance_path(env)
    vni_low, _, vni_high = env.get("VIRTAPI_VNI_RANGE", "10000-16000000").partition("-")
    return {
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": env.get("VIRTAPI_DATABASE_URL") or default_database_url(instance),
        "DATABASE_READ_URL": env.get("VIRTAPI_DATABASE_READ_URL") or None,
        "REPLICA_RETRY_SECONDS": _float(env, "VIRTAPI_REPLICA_RETRY_SECONDS", 10.0),
        "SECRET_KEY": _secret_key(env, instance),
        "MAX_CONTENT_LENGTH": _int(env, "VIRTAPI_MAX_BODY_BYTES", 10 * 1024 * 1024),
        "PUPPET_ENVIRONMENT": env.get("VIRTAPI_PUPPET_ENVIRONMENT", "production"),
        # Node documents kept per process for ENC/Hiera/pillar; 0 turns the cache off.
        "DOCUMENT_CACHE_SIZE": _int(env, "VIRTAPI_DOCUMENT_CACHE_SIZE", 2000),
        "CPU_OVERCOMMIT": _float(env, "VIRTAPI_CPU_OVERCOMMIT", 4.0),
        "RAM_OVERCOMMIT": _float(env, "VIRTAPI_RAM_OVERCOMMIT", 1.0),
        "VNI_RANGE": (int(vni_low), int(vni_high or vni_low)),
        "NODE_STALE_SECONDS": _int(env, "VIRTAPI_NODE_STALE_SECONDS", 300),
        "PXE_KERNEL_URL": env.get(
            "VIRTAPI_PXE_KERNEL_URL", "http://pxe.example.com/rescue/vmlinuz"
        ),
        "PXE_INITRD_URL": env.get("VIRTAPI_PXE_INITRD_URL", "http://pxe.example.com/rescue/initrd"),
        "PXE_PUBLIC_URL": env.get("VIRTAPI_PUBLIC_URL", ""),
        "PXE_ALLOWED_NETWORKS": [
            n.strip() for n in env.get("VIRTAPI_PXE_ALLOWED_NETWORKS", "").split(",") if n.strip()
        ],
        "AUTH_MAX_FAILURES": _int(env, "VIRTAPI_AUTH_MAX_FAILURES", 20),
        "AUTH_FAILURE_WINDOW_SECONDS": _int(env, "VIRTAPI_AUTH_FAILURE_WINDOW_SECONDS", 300),
        # How many reverse proxies in front of us set X-Forwarded-For; 0 trusts none.
        "TRUSTED_PROXIES": _int(env, "VIRTAPI_TRUSTED_PROXIES", 0),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("VIRTAPI_SECURE_COOKIES", "0") == "1",
        **_observability(env),
    }


# --- observability (issue 19): logs, /metrics guard, /readyz -----------------------------------
def _observability(env: dict[str, str]) -> dict[str, Any]:
    log_format = env.get("VIRTAPI_LOG_FORMAT") or "text"
    if log_format not in ("text", "json"):
        raise ValueError(f"VIRTAPI_LOG_FORMAT must be 'text' or 'json', got {log_format!r}")
    return {
        "LOG_FORMAT": log_format,
        # HOST:PORT of a listener serving /metrics without a token (unset: reader token needed).
        "METRICS_BIND": env.get("VIRTAPI_METRICS_BIND") or None,
        # /readyz fails when the read replica lags more; 0 leaves the replica out of readiness.
        "READY_MAX_REPLICA_LAG_SECONDS": _float(env, "VIRTAPI_READY_MAX_REPLICA_LAG_SECONDS", 30.0),
    }


# --- end observability --------------------------------------------------------------------------
