"""Settings: one typed object read once from VIRTAPI_*, one default each."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtapi.config import Settings, load_settings, split_overrides
from virtapi.services.placement import Overcommit


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"VIRTAPI_INSTANCE_PATH": str(tmp_path), "VIRTAPI_SECRET_KEY": "k", **values}


def test_defaults_and_values_from_the_environment(tmp_path: Path) -> None:
    defaults = load_settings(_env(tmp_path))
    assert defaults.cpu_overcommit == 4.0 and defaults.ram_overcommit == 1.0
    assert defaults.vni_range == (10000, 16000000)
    assert defaults.database_url == f"sqlite:///{tmp_path / 'virtapi.sqlite'}"
    # Placement without explicit ratios uses the same defaults as the settings.
    assert Overcommit() == Overcommit.of(defaults)
    custom = load_settings(
        _env(
            tmp_path,
            VIRTAPI_CPU_OVERCOMMIT="2",
            VIRTAPI_VNI_RANGE="20000-20010",
            VIRTAPI_PXE_ALLOWED_NETWORKS=" 10.0.0.0/8, ,fd00::/8",
            VIRTAPI_SECURE_COOKIES="true",
        )
    )
    assert custom.cpu_overcommit == 2.0 and custom.vni_range == (20000, 20010)
    assert custom.pxe_allowed_networks == ("10.0.0.0/8", "fd00::/8")
    assert custom.flask_config()["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VIRTAPI_CPU_OVERCOMMIT", "lots"),
        ("VIRTAPI_RAM_OVERCOMMIT", "0"),
        ("VIRTAPI_NODE_STALE_SECONDS", "5m"),
        ("VIRTAPI_VNI_RANGE", "10000-"),
        ("VIRTAPI_VNI_RANGE", "20-10"),
        ("VIRTAPI_VNI_RANGE", "1-16777216"),
        ("VIRTAPI_DOCUMENT_CACHE_SIZE", "big"),
        ("VIRTAPI_DOCUMENT_CACHE_SIZE", "-1"),
        ("VIRTAPI_SECURE_COOKIES", "sure"),
        ("VIRTAPI_PUBLIC_URL", "virtapi.example.com"),
        ("VIRTAPI_PXE_KERNEL_URL", "ftp://x/vmlinuz"),
        ("VIRTAPI_PXE_ALLOWED_NETWORKS", "10.0.0.0/8,10.300.0.0/16"),
        ("VIRTAPI_METRICS_BIND", "9100"),
        ("VIRTAPI_METRICS_BIND", "127.0.0.1:99999"),
        ("VIRTAPI_AUTH_MAX_FAILURES", "0"),
        ("VIRTAPI_AUTH_FAILURE_WINDOW_SECONDS", "-5"),
        ("VIRTAPI_TRUSTED_PROXIES", "-1"),
        ("VIRTAPI_MAX_BODY_BYTES", "0"),
        ("VIRTAPI_NODE_STALE_SECONDS", "0"),
        ("VIRTAPI_REPLICA_RETRY_SECONDS", "0"),
        ("VIRTAPI_LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        load_settings(_env(tmp_path, **{variable: value}))


def test_overrides_split_into_settings_and_flask_config(tmp_path: Path) -> None:
    settings, flask = split_overrides(
        load_settings(_env(tmp_path)),
        {"CPU_OVERCOMMIT": 8.0, "vni_range": [5, 6], "TESTING": True},
    )
    assert isinstance(settings, Settings)
    assert settings.cpu_overcommit == 8.0 and settings.vni_range == (5, 6)
    assert flask == {"TESTING": True}
