"""Who a service acts for, without importing the web layer (auth.Principal fits this shape)."""

from __future__ import annotations

from typing import Protocol


class Caller(Protocol):
    role: str
    customer_id: int | None

    @property
    def is_customer(self) -> bool: ...


def customer_of(caller: Caller) -> int | None:
    """The customer a caller is bound to; None for operators and admins."""
    return caller.customer_id if caller.is_customer else None
