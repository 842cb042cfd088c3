"""How a request becomes a person with a scope: bearer tokens, scope and team checks, the
per-token rate limit."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions, throttling
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from api import tokens
from api.models import ApiToken
from inbox.models import Conversation
from inbox.selectors.inbox import conversations_visible_to


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer wci_…`. A wrong token is a 401, never a fall-through to a session."""

    keyword = "Bearer"

    def authenticate(self, request: Request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        try:
            raw = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header.")) from None
        token = tokens.find_active(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Unknown, expired or revoked token."))
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from Settings → API tokens",
        }


def token_of(request: Request) -> ApiToken | None:
    """The request's token; None when a logged-in session calls the API (the docs page)."""
    return request.auth if isinstance(request.auth, ApiToken) else None


class TokenScopePermission(permissions.BasePermission):
    """Reads need any token; writes a write token. A session is its person, unnarrowed."""

    message = _("This token is read-only.")

    def has_permission(self, request: Request, view: Any) -> bool:
        token = token_of(request)
        if token is None or request.method in permissions.SAFE_METHODS:
            return True
        return token.may_write


class TokenRateThrottle(throttling.SimpleRateThrottle):
    """Per token (or per session user) per minute; DRF answers 429 with Retry-After."""

    scope = "token"

    def get_rate(self) -> str:
        return f"{tokens.default_rate()}/min"

    def allow_request(self, request: Request, view: Any) -> bool:
        token = token_of(request)
        per_minute = (token.rate_per_minute if token else None) or tokens.default_rate()
        self.num_requests, self.duration = per_minute, 60
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = token_of(request)
        if token is not None:
            return f"api-throttle:t{token.pk}"
        if request.user and request.user.is_authenticated:
            return f"api-throttle:u{request.user.pk}"
        return f"api-throttle:ip{self.get_ident(request)}"


def scoped_conversations(request: Request) -> QuerySet[Conversation]:
    """What the person sees in the UI, narrowed to the token's teams where it has any."""
    qs = conversations_visible_to(request.user)
    token = token_of(request)
    if token is not None:
        teams = tokens.team_ids_of(token)
        if teams:
            qs = qs.filter(department_id__in=teams)
    return qs


def token_allows_team(request: Request, department_id: int | None) -> bool:
    token = token_of(request)
    if token is None:
        return True
    teams = tokens.team_ids_of(token)
    return not teams or department_id in teams
