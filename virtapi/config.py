"""Settings from the environment (``VIRTAPI_*``), read once into one typed object.

Every setting has exactly one default, here. The app keeps its ``Settings`` in
``app.extensions``; code reads it with ``current_settings()``, never from ``app.config``
(which only carries what Flask itself reads: the secret key, the body limit, cookies).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from .services.secretbox import KEY_FILE_NAME, KEY_VARIABLE, SecretBox, box_for, read_key_file
from .values import MAX_VNI

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


def _positive(name: str, value: float) -> float:
    if value <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value:g}")
    return value


def _at_least(name: str, value: int, low: int) -> int:
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")
    return raw in ("1", "true", "yes", "on")


def _url(env: dict[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


def _networks(env: dict[str, str], name: str) -> tuple[str, ...]:
    found = tuple(n.strip() for n in env.get(name, "").split(",") if n.strip())
    for network in found:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(
                f"{name} must be a comma-separated list of networks (10.0.0.0/8), got {network!r}"
            ) from None
    return found


def _bind(env: dict[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    host, sep, port = raw.rpartition(":")
    if raw and (not sep or not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"{name} must be HOST:PORT (127.0.0.1:9100), got {raw!r}")
    return raw or None


def _vni_range(env: dict[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    low, dash, high = raw.partition("-")
    try:
        # A single number is a range of one; "LOW-" is a typo, not an open range.
        bounds = (int(low), int(high if dash else low))
    except ValueError:
        raise ValueError(f"{name} must be 'LOW-HIGH' (e.g. 10000-16000000), got {raw!r}") from None
    if not 1 <= bounds[0] <= bounds[1] <= MAX_VNI:
        raise ValueError(f"{name} must lie within 1-{MAX_VNI} with LOW <= HIGH, got {raw!r}")
    return bounds


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


def _secret_key_file(env: dict[str, str], instance: Path) -> str | None:
    """VIRTAPI_SECRET_KEY_FILE, checked now (a bad key fails the start, not the first write),
    else the key demo/dev mode generated in the instance folder, if any."""
    configured = env.get(KEY_VARIABLE, "").strip()
    path = Path(configured) if configured else instance / KEY_FILE_NAME
    if not configured and not path.exists():
        return None
    read_key_file(path, KEY_VARIABLE)
    return str(path)


@dataclass(frozen=True)
class Settings:
    """Every VIRTAPI_* setting; the README's configuration table lists the same."""

    instance_path: str
    database_url: str
    secret_key: str
    # Key file for secrets at rest (Ceph keys); None: no secret can be stored.
    secret_key_file: str | None = None
    database_read_url: str | None = None
    replica_retry_seconds: float = 10.0
    max_body_bytes: int = 10 * 1024 * 1024
    puppet_environment: str = "production"
    # Node documents kept per process for ENC/Hiera/pillar; 0 turns the cache off.
    document_cache_size: int = 2000
    cpu_overcommit: float = 4.0
    ram_overcommit: float = 1.0
    # Where automatic VXLAN ids come from.
    vni_range: tuple[int, int] = (10000, 16000000)
    node_stale_seconds: int = 300
    # Change-feed long polls waiting at once per process (issue 12); the rest answer at once.
    feed_max_waiters: int = 2
    pxe_kernel_url: str = "http://pxe.example.com/rescue/vmlinuz"
    pxe_initrd_url: str = "http://pxe.example.com/rescue/initrd"
    pxe_public_url: str = ""
    pxe_allowed_networks: tuple[str, ...] = ()
    auth_max_failures: int = 20
    auth_failure_window_seconds: int = 300
    # How many reverse proxies in front of us set X-Forwarded-For; 0 trusts none.
    trusted_proxies: int = 0
    secure_cookies: bool = False
    # Logs as one JSON object per line ("json") or plain text for a terminal ("text").
    log_format: str = "text"
    # HOST:PORT of a listener serving /metrics without a token (unset: reader token needed).
    metrics_bind: str | None = None
    # /readyz fails when the read replica lags more; 0 leaves the replica out of readiness.
    ready_max_replica_lag_seconds: float = 30.0

    def flask_config(self) -> dict[str, Any]:
        """The keys Flask itself reads."""
        return {
            "SECRET_KEY": self.secret_key,
            "MAX_CONTENT_LENGTH": self.max_body_bytes,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.secure_cookies,
        }


_FIELDS = {f.name for f in dataclasses.fields(Settings)}


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Settings from ``VIRTAPI_*`` variables; a bad value names its variable."""
    env = dict(os.environ) if env is None else env
    instance = instance_path(env)
    d = Settings  # the defaults
    return Settings(
        instance_path=str(instance),
        database_url=env.get("VIRTAPI_DATABASE_URL") or default_database_url(instance),
        secret_key=_secret_key(env, instance),
        secret_key_file=_secret_key_file(env, instance),
        database_read_url=env.get("VIRTAPI_DATABASE_READ_URL") or None,
        replica_retry_seconds=_positive(
            "VIRTAPI_REPLICA_RETRY_SECONDS",
            _float(env, "VIRTAPI_REPLICA_RETRY_SECONDS", d.replica_retry_seconds),
        ),
        max_body_bytes=_at_least(
            "VIRTAPI_MAX_BODY_BYTES", _int(env, "VIRTAPI_MAX_BODY_BYTES", d.max_body_bytes), 1024
        ),
        puppet_environment=env.get("VIRTAPI_PUPPET_ENVIRONMENT") or d.puppet_environment,
        document_cache_size=_at_least(
            "VIRTAPI_DOCUMENT_CACHE_SIZE",
            _int(env, "VIRTAPI_DOCUMENT_CACHE_SIZE", d.document_cache_size),
            0,
        ),
        cpu_overcommit=_positive(
            "VIRTAPI_CPU_OVERCOMMIT", _float(env, "VIRTAPI_CPU_OVERCOMMIT", d.cpu_overcommit)
        ),
        ram_overcommit=_positive(
            "VIRTAPI_RAM_OVERCOMMIT", _float(env, "VIRTAPI_RAM_OVERCOMMIT", d.ram_overcommit)
        ),
        vni_range=_vni_range(env, "VIRTAPI_VNI_RANGE", d.vni_range),
        node_stale_seconds=_at_least(
            "VIRTAPI_NODE_STALE_SECONDS",
            _int(env, "VIRTAPI_NODE_STALE_SECONDS", d.node_stale_seconds),
            1,
        ),
        feed_max_waiters=_at_least(
            "VIRTAPI_FEED_MAX_WAITERS",
            _int(env, "VIRTAPI_FEED_MAX_WAITERS", d.feed_max_waiters),
            0,
        ),
        pxe_kernel_url=_url(env, "VIRTAPI_PXE_KERNEL_URL", d.pxe_kernel_url),
        pxe_initrd_url=_url(env, "VIRTAPI_PXE_INITRD_URL", d.pxe_initrd_url),
        pxe_public_url=_url(env, "VIRTAPI_PUBLIC_URL", d.pxe_public_url),
        pxe_allowed_networks=_networks(env, "VIRTAPI_PXE_ALLOWED_NETWORKS"),
        auth_max_failures=_at_least(
            "VIRTAPI_AUTH_MAX_FAILURES",
            _int(env, "VIRTAPI_AUTH_MAX_FAILURES", d.auth_max_failures),
            1,
        ),
        auth_failure_window_seconds=_at_least(
            "VIRTAPI_AUTH_FAILURE_WINDOW_SECONDS",
            _int(env, "VIRTAPI_AUTH_FAILURE_WINDOW_SECONDS", d.auth_failure_window_seconds),
            1,
        ),
        trusted_proxies=_at_least(
            "VIRTAPI_TRUSTED_PROXIES", _int(env, "VIRTAPI_TRUSTED_PROXIES", d.trusted_proxies), 0
        ),
        secure_cookies=_bool(env, "VIRTAPI_SECURE_COOKIES", d.secure_cookies),
        log_format=_choice(env, "VIRTAPI_LOG_FORMAT", ("text", "json"), d.log_format),
        metrics_bind=_bind(env, "VIRTAPI_METRICS_BIND"),
        ready_max_replica_lag_seconds=_float(
            env, "VIRTAPI_READY_MAX_REPLICA_LAG_SECONDS", d.ready_max_replica_lag_seconds
        ),
    )


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def split_overrides(
    settings: Settings, overrides: dict[str, Any]
) -> tuple[Settings, dict[str, Any]]:
    """Apply ``create_app`` overrides: keys naming a setting (``CPU_OVERCOMMIT`` or
    ``cpu_overcommit``) change it; any other key is Flask config (``TESTING`` …)."""
    changes = {k.lower(): v for k, v in overrides.items() if k.lower() in _FIELDS}
    flask = {k: v for k, v in overrides.items() if k.lower() not in _FIELDS}
    if "vni_range" in changes:
        changes["vni_range"] = tuple(changes["vni_range"])
    if "pxe_allowed_networks" in changes:
        changes["pxe_allowed_networks"] = tuple(changes["pxe_allowed_networks"])
    return dataclasses.replace(settings, **changes), flask


def install(app: Flask, settings: Settings) -> None:
    """Make ``settings`` the app's (also what tests use to change one after create_app)."""
    app.extensions["virtapi.settings"] = settings
    app.config.update(settings.flask_config())


def settings_of(app: Flask) -> Settings:
    return app.extensions["virtapi.settings"]


def override(app: Flask, **changes: Any) -> Settings:
    """Change some settings of a running app (tests): ``override(app, node_stale_seconds=0)``."""
    settings, _ = split_overrides(settings_of(app), changes)
    install(app, settings)
    return settings


def current_settings() -> Settings:
    """The settings of the app handling this request or command."""
    return settings_of(current_app)


@functools.cache
def _box(path: str | None) -> SecretBox | None:
    return box_for(path)


def current_secret_box() -> SecretBox | None:
    """The box of the configured key file (None: no key, no secret can be stored)."""
    return _box(current_settings().secret_key_file)
