"""Signing in to the HTML pages with an API token: server-side sessions.

The signed cookie holds only a random session id (``session["sid"]``); the database keeps its
hash (``tokens.open_session``), so the id is void at sign-out, when its token is revoked or
expires, and after ``SESSION_LIFETIME``; a cookie copied before sign-out is worth nothing after.
The token itself never reaches the cookie. The cookie is HttpOnly, SameSite=Lax and Secure when
the request came over TLS or VIRTAPI_PUBLIC_URL is https; the login and logout forms carry a
CSRF token from the session, so another site can neither log a browser in nor out.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from flask import Flask, Request, abort, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from werkzeug.wrappers import Response

from ..auth import Principal, authenticate, resolve_principal
from ..config import settings_of
from ..db import get_session
from ..services import tokens

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
            if "sid" in session:
                # Signed out elsewhere, expired, or its token revoked: say why on the form.
                session.pop("sid")
                session["flash"] = "Your session has ended; sign in again."
            return redirect(url_for("web.login", next=_here()))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _here() -> str:
    """This page's path and query for ``next``, without a ``token`` parameter: a token pasted
    into a URL must not travel on in a Location header (proxy logs, Referer, history)."""
    query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}"
        for k, v in request.args.items(multi=True)
        if k != "token"
    )
    return request.path + (f"?{query}" if query else "")


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
            db = get_session()
            session["sid"] = tokens.open_session(db, row)
            db.commit()
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
    if session.get("sid"):
        db = get_session()
        tokens.close_session(db, session["sid"])
        db.commit()
    session.clear()
    session["flash"] = "You are signed out."
    return redirect(url_for("web.login"), code=303)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the browser reached us over TLS (directly
    or, with VIRTAPI_TRUSTED_PROXIES, through a proxy) or the public URL is https."""

    def open_session(self, app: Flask, req: Request) -> SecureCookieSession | None:
        # Most requests (API and config management with a Bearer token, static files) carry
        # no session cookie: their empty session needs no signing serializer, which Flask
        # builds anew on every call (a tenth of a cached ENC answer's time).
        if app.secret_key and self.get_cookie_name(app) not in req.cookies:
            return self.session_class()
        return super().open_session(app, req)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # An empty session nobody touched sets, deletes and varies on nothing (as in Flask's
        # own save_session): skip computing the cookie's attributes.
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)

    def get_cookie_secure(self, app: Flask) -> bool:
        return (
            super().get_cookie_secure(app)
            or request.is_secure
            or settings_of(app).pxe_public_url.lower().startswith("https://")
        )


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
