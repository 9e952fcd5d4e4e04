"""Token checks beyond tests/test_auth.py: the constant-time comparison, expiry boundaries,
and the failure window of the per-source rate limit."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from virtapi.models.base import utcnow
from virtapi.services import ratelimit, tokens


def test_the_stored_hash_is_compared_in_constant_time(session: Any, monkeypatch: Any) -> None:
    row, plaintext = tokens.create_token(session, "admin")
    session.commit()
    seen: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", recording)
    assert tokens.authenticate(session, plaintext) is row
    assert seen == [(row.token_hash, tokens.hash_token(plaintext))]
    assert row.token_hash != plaintext and plaintext not in row.token_hash


def test_malformed_expired_and_revoked_tokens(session: Any) -> None:
    now = utcnow()
    live, live_plain = tokens.create_token(session, "reader", expires_at=now + timedelta(seconds=1))
    _, edge_plain = tokens.create_token(session, "reader", expires_at=now)
    revoked, revoked_plain = tokens.create_token(session, "reader")
    session.commit()
    tokens.revoke(session, revoked.id)
    session.commit()
    assert tokens.authenticate(session, live_plain, now=now) is live
    assert tokens.authenticate(session, live_plain, now=now + timedelta(seconds=1)) is None
    assert tokens.authenticate(session, edge_plain, now=now) is None  # expiry is exclusive
    assert tokens.authenticate(session, revoked_plain, now=now) is None
    for bad in ("", "va_", live_plain[3:], live_plain + "x", live_plain.upper(), "va_" + "a" * 200,
                live_plain + "\x00", " " + live_plain):  # fmt: skip
        assert tokens.authenticate(session, bad, now=now) is None


def test_rate_limit_window_per_source(session: Any) -> None:
    policy = ratelimit.Policy(max_failures=3, window=timedelta(minutes=5))
    t0 = utcnow()
    for i in range(3):
        assert (
            ratelimit.record_failure(session, "192.0.2.1", policy, t0 + timedelta(seconds=i))
            is None
        )
    wait = ratelimit.record_failure(session, "192.0.2.1", policy, now=t0 + timedelta(seconds=10))
    assert wait is not None and 280 <= wait <= 291
    assert ratelimit.record_failure(session, "192.0.2.2", policy, now=t0) is None
    session.commit()
    # After the window the source may fail again, and its count starts over.
    later = t0 + timedelta(minutes=5, seconds=1)
    for _ in range(3):
        assert ratelimit.record_failure(session, "192.0.2.1", policy, now=later) is None
    assert ratelimit.record_failure(session, "192.0.2.1", policy, now=later) is not None
