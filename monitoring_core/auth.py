"""Who may call what: bearer tokens of two scopes, and rate limits on the routes that start work.

``admin`` changes state and starts work; ``read`` reads. An admin token also reads. Flask-HTTPAuth
parses the ``Authorization`` header and answers 401 (with ``WWW-Authenticate``) or 403; this
module only says which token is which (compared in constant time) and what the errors look like.
Every route is a read unless marked: ``access.admin`` for admin routes, ``access.work`` for admin
routes that start work (also rate limited per client address by Flask-Limiter, 429 with
``Retry-After``), ``access.public`` for what needs no token even when reads are closed (health,
the API's description, the dashboard's page).
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, jsonify, request
from flask_httpauth import HTTPTokenAuth
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from monitoring_core.settings import AccessSettings

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])
ROLES = {"admin": ["admin", "read"], "read": ["read"]}
PUBLIC = "_public_route"
WORK = "_work_route"


class Access:
    """The token check and the rate limiter of one app; built by `create_service_app`."""

    def __init__(self, app: Flask, settings: AccessSettings, realm: str) -> None:
        self.settings = settings
        self._tokens = [(scope, token.encode()) for scope, token in settings.tokens().items()]
        if "admin" not in settings.tokens():
            log.warning("no admin token configured: every admin route answers 401")
        self.auth = HTTPTokenAuth(scheme="Bearer", realm=realm)
        self.auth.verify_token(self.scope_of)
        self.auth.get_user_roles(lambda scope: ROLES[scope])
        self.auth.error_handler(self._error)
        self.limiter = Limiter(
            get_remote_address,
            app=app,
            storage_uri="memory://",  # per process; each work route runs in one worker
            key_prefix=realm,
        )
        app.register_error_handler(RateLimitExceeded, self._too_many)
        # Only work routes have limits: every other request skips the limiter's lookup of
        # which limits apply (a tenth of a label lookup's CPU).
        self.limiter.request_filter(lambda: not getattr(_view(), WORK, False))
        self._require_read = self.auth.login_required(role="read")(_allow)
        self.admin: Callable[[View], View] = self.auth.login_required(role="admin")
        app.before_request(self._check_read)

    def scope_of(self, token: str) -> str | None:
        """The scope of ``token``, or None. Every known token is compared, each in constant
        time, so the answer's timing says nothing about which one or how much matched."""
        given = token.encode()
        found = None
        for scope, known in self._tokens:
            if hmac.compare_digest(given, known) and found is None:
                found = scope
        return found

    def request_scope(self) -> str | None:
        """The scope of the current request's token (None: none, or not a known one)."""
        auth = self.auth.get_auth()
        token = getattr(auth, "token", None)
        return self.scope_of(token) if token else None

    def may_read(self) -> bool:
        return self.request_scope() is not None

    def work(self, view: View) -> View:
        """An admin route that starts work, rate limited per client address. The token is
        checked first: a caller without one is refused at no cost and uses up no one's quota."""
        limited = self.limiter.limit(self.settings.work_rate_limit)(view)
        guarded = self.admin(cast(View, limited))
        setattr(guarded, WORK, True)
        return guarded

    @staticmethod
    def public(view: View) -> View:
        """A route that needs no token even when reads are closed."""
        setattr(view, PUBLIC, True)
        return view

    def _check_read(self) -> Response | None:
        if not self.settings.reads_require_token or request.endpoint is None:
            return None  # reads open, or no such route (its 404 tells nothing)
        if getattr(_view(), PUBLIC, False):
            return None
        return self._require_read()

    def _too_many(self, exc: RateLimitExceeded) -> tuple[Response, int, dict[str, str]]:
        # Retry-After on the 429 only (Flask-Limiter's headers_enabled puts it on every answer).
        current = self.limiter.current_limit
        wait = max(1, math.ceil(current.reset_at - time.time())) if current else 60
        body = {
            "error": "too_many_requests",
            "reason": f"at most {exc.description} per client on this route; retry in {wait} s",
        }
        return jsonify(body), 429, {"Retry-After": str(wait)}

    def _error(self, status: int) -> tuple[Response, int]:
        if status == 401:
            reason = "this route needs a bearer token: Authorization: Bearer <token>"
            if request.headers.get("Authorization"):
                reason = "the bearer token is not one this service knows"
            return jsonify({"error": "unauthorized", "reason": reason}), 401
        return (
            jsonify({"error": "forbidden", "reason": "this route needs the admin scope"}),
            403,
        )


def _allow() -> None:
    return None


def _view() -> Callable[..., Any] | None:
    """The view function of the current request's route (None: no such route)."""
    return current_app.view_functions.get(request.endpoint or "")
