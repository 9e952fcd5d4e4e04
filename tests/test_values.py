"""Value parsers that have no other home in the tests: sizes as people type them."""

from __future__ import annotations

import pytest

from virtapi.values import MAX_SIZE, InvalidValue, parse_size_text

GiB = 1024**3


@pytest.mark.parametrize(
    ("text", "unit", "size"),
    [
        ("20G", 1, 20 * GiB),
        ("512M", 1, 512 * 1024**2),
        ("512m", 1, 512 * 1024**2),
        ("1.5 TiB", 1, 1536 * GiB),
        ("20GB", 1, 20 * GiB),  # binary, as qemu-img and LVM read it
        ("4K", 1, 4096),
        ("4096", 1, 4096),  # a bare number counts in the caller's unit
        ("4", GiB, 4 * GiB),
        ("0.5", GiB, GiB // 2),
        ("8 G", 1, 8 * GiB),
        (7 * GiB, GiB, 7 * GiB),  # a JSON integer is bytes whatever the form's unit
    ],
)
def test_sizes_as_typed(text: object, unit: int, size: int) -> None:
    assert parse_size_text(text, unit) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "20G, 512M or 1.5T"),
        ("-5G", "no size"),
        ("1e3", "no size"),
        ("1.1", "whole number of bytes"),  # 1.1 bytes
        ("0", "between 1"),
        ("8E", "no size"),  # exbibytes overflow a 64-bit column anyway
        (f"{MAX_SIZE + 1}", "between 1"),
        ("9" * 25, "no size"),
        (True, "string"),
        ("4\x00G", "NUL"),
    ],
)
def test_bad_sizes_say_what_is_wrong(text: object, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        parse_size_text(text)


def test_a_minimum_of_zero_allows_empty_quotas() -> None:
    assert parse_size_text("0", 1, minimum=0) == 0
