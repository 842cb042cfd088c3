"""Every URL refuses a POST without a CSRF token; only the signed /hooks/ endpoints are exempt.

The REST API (/api/v1/) is DRF's: its views are csrf_exempt because a bearer token cannot be
forged by a browser, and DRF's SessionAuthentication checks CSRF itself for a logged-in
session, so a session's POST without the token is refused there too."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

SKIP_PREFIXES = ("admin/",)  # Django's own admin, CSRF-protected by Django
EXEMPT_PREFIX = "hooks/"
API_PREFIX = "api/v1/"


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route, entry.callback


def _concrete(route: str) -> str:
    path = re.sub(r"<int:[^>]+>", "1", route)
    path = re.sub(r"<(?:str|slug):[^>]+>", "x", path)
    path = re.sub(r"<[^>]+>", "x", path)
    return "/" + path.lstrip("^").rstrip("$")


ROUTES = sorted(
    {(route, cb) for route, cb in _walk(get_resolver().url_patterns)}, key=lambda rc: rc[0]
)


def test_there_are_routes():
    assert len(ROUTES) > 20


@pytest.mark.parametrize(
    "route,callback",
    [rc for rc in ROUTES if not rc[0].startswith(SKIP_PREFIXES + (EXEMPT_PREFIX, API_PREFIX))],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_post_without_token_is_refused(route, callback, admin_user):
    assert not getattr(callback, "csrf_exempt", False), f"{route} is csrf_exempt"
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(_concrete(route), {"x": "1"})
    assert response.status_code == 403, (route, response.status_code)


@pytest.mark.parametrize(
    "route,callback",
    [rc for rc in ROUTES if rc[0].startswith(API_PREFIX)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_api_session_post_without_token_is_refused(route, callback, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(_concrete(route), {"x": "1"}, content_type="application/json")
    assert response.status_code == 403, (route, response.status_code)
    if response["Content-Type"].startswith("application/json"):
        assert "CSRF" in response.json()["detail"]  # refused for the token, not the method


@pytest.mark.parametrize(
    "route,callback",
    [rc for rc in ROUTES if rc[0].startswith(EXEMPT_PREFIX)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_webhooks_are_exempt_but_public_and_signed(route, callback, channel):
    assert getattr(callback, "access_rule", None) == "public"
    client = Client(enforce_csrf_checks=True)
    # No signature: refused by the signature check (403) or for the channel (404), never a 2xx.
    response = client.post(_concrete(route), b"{}", content_type="application/json")
    assert response.status_code in (403, 404)
