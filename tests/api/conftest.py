"""API test helpers: a client that sends a bearer token."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api import tokens


@pytest.fixture
def api_client():
    """`api_client(raw_token)` -> an APIClient that sends it on every request."""

    def make(raw: str | None = None) -> APIClient:
        client = APIClient()
        if raw:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


@pytest.fixture
def token_for():
    """`token_for(user, scope="read", teams=())` -> the raw token of a new personal token."""

    def make(user, scope="read", teams=(), **fields) -> str:
        token, raw = tokens.create_personal_token(user=user, name="test", scope=scope, teams=teams)
        if fields:
            type(token).objects.filter(pk=token.pk).update(**fields)
        return raw

    return make
