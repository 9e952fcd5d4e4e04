"""Signing in to the HTML pages with an API token kept in the signed session cookie.

The token lives in ``session["token"]`` (``auth.resolve_principal`` reads it there), the cookie is
HttpOnly and SameSite=Lax (config), and the login and logout forms carry a CSRF token from the
session, so another site can neither log a browser in to its own token nor log it out.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..auth import Principal, authenticate, resolve_principal

F = TypeVar("F", bound=Callable[..., Any])


def csrf_token() -> str:
    """The session's CSRF token, made on first use (templates call this)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    sent = request.form.get("csrf", "")
    expected = session.get("csrf", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        abort(400, "the form has expired or did not come from this site; reload it and try again")


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would make the login form a phishing aid."""
    if not target:
        return url_for("web.fleet")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.fleet")
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return url_for("web.fleet")
    return target


def signed_in(view: F) -> F:
    """The page needs a valid session (or Bearer token); otherwise off to the login form."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        principal = resolve_principal()
        if principal is None:
            if "token" in session:
                # Revoked or expired since login: forget it, and say why on the form.
                session.pop("token")
                session["flash"] = "Your token is no longer valid; sign in again."
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def principal() -> Principal:
    p = resolve_principal()
    assert p is not None, "only inside @signed_in views"
    return p


def login() -> Any:
    message = session.pop("flash", None)
    status = 200
    next_url = request.values.get("next", "")
    if request.method == "POST":
        check_csrf()
        plaintext = request.form.get("token", "").strip()
        row = authenticate(plaintext) if plaintext else None
        if row is not None:
            # A fresh session on login: nothing from before (a planted CSRF token) survives.
            session.clear()
            session["token"] = plaintext
            session["csrf"] = secrets.token_urlsafe(32)
            g.pop("principal", None)
            return redirect(safe_next(next_url), code=303)
        message = (
            "Enter a token."
            if not plaintext
            else "That token is not valid: it is unknown, revoked or expired."
        )
        status = 401
    return render_template("login.html", message=message, next=next_url), status


def logout() -> Response:
    check_csrf()
    session.clear()
    session["flash"] = "You are signed out."
    return redirect(url_for("web.login"), code=303)
