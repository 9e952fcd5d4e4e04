"""Who a service acts for, without importing the web layer (auth.Principal fits this shape)."""

from __future__ import annotations

from typing import Protocol

from .errors import Forbidden


class Caller(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def customer_id(self) -> int | None: ...

    @property
    def is_customer(self) -> bool: ...


def customer_of(caller: Caller) -> int | None:
    """The customer a caller is bound to; None for operators and admins."""
    return caller.customer_id if caller.is_customer else None


def operators_only(caller: Caller, given: list[str], what: str) -> None:
    """403 naming the fields when a customer sends what only operators may set."""
    if given and customer_of(caller) is not None:
        raise Forbidden(
            f"customers cannot set {what}; leave out {', '.join(given)}",
            errors={k: ["operators only"] for k in given},
        )
