"""Bearer tokens: found by digest, scoped, limited per minute, revocable, expiring."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from api import tokens
from api.models import ApiToken, TokenKind
from inbox.services.refusals import ActionRefused

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_only_as_its_digest(staff_a):
    token, raw = tokens.create_personal_token(user=staff_a, name="BI")
    assert raw.startswith("wci_") and len(raw) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert raw not in (stored.digest, stored.prefix)
    assert stored.digest == tokens.digest_of(raw)
    assert raw.startswith(stored.prefix)


def test_bearer_token_acts_as_its_person(api_client, token_for, staff_a, team_a):
    response = api_client(token_for(staff_a, teams=[team_a])).get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "anna" and body["scope"] == "read"
    assert body["team_ids"] == [team_a.pk]


@pytest.mark.parametrize(
    "header",
    ["Bearer wci_not-a-token", "Bearer", "Bearer a b", "Bearer other-format"],
)
def test_a_wrong_token_is_401_not_a_login_page(api_client, header):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_no_credentials_is_401(api_client):
    assert api_client().get("/api/v1/me/").status_code == 401


def test_revoked_and_expired_tokens_stop_working(api_client, staff_a, coordinator):
    token, raw = tokens.create_personal_token(user=staff_a, name="x")
    assert api_client(raw).get("/api/v1/me/").status_code == 200
    with pytest.raises(ActionRefused):
        tokens.revoke_token(token=token, acting_user=coordinator)
    tokens.revoke_token(token=token, acting_user=staff_a)
    assert api_client(raw).get("/api/v1/me/").status_code == 401

    _, raw = tokens.create_personal_token(
        user=staff_a, name="y", expires_at=timezone.now() + timedelta(days=1)
    )
    assert api_client(raw).get("/api/v1/me/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert api_client(raw).get("/api/v1/me/").status_code == 401


def test_a_deactivated_person_s_token_stops_working(api_client, token_for, staff_a):
    raw = token_for(staff_a)
    staff_a.is_active = False
    staff_a.save()
    assert api_client(raw).get("/api/v1/me/").status_code == 401


def test_last_used_is_written_at_most_once_a_minute(api_client, staff_a):
    token, raw = tokens.create_personal_token(user=staff_a, name="x")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api_client(raw).get("/api/v1/me/")
        token.refresh_from_db()
        assert token.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        api_client(raw).get("/api/v1/me/")
        token.refresh_from_db()
        assert token.last_used_at == start
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        api_client(raw).get("/api/v1/me/")
        token.refresh_from_db()
        assert token.last_used_at == start + timedelta(minutes=2)


def test_a_read_only_token_cannot_write(api_client, token_for, staff_a):
    response = api_client(token_for(staff_a, scope="read")).post("/api/v1/me/", {})
    assert response.status_code == 403
    # The write token passes the scope check and meets the method's own answer.
    assert api_client(token_for(staff_a, scope="write")).post("/api/v1/me/", {}).status_code == 405


def test_over_the_rate_limit_is_429_with_retry_after(api_client, token_for, staff_a):
    client = api_client(token_for(staff_a, rate_per_minute=2))
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert client.get("/api/v1/me/").status_code == 200
        assert client.get("/api/v1/me/").status_code == 200
        refused = client.get("/api/v1/me/")
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) == 60
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert client.get("/api/v1/me/").status_code == 200


def test_a_personal_token_cannot_reach_beyond_its_person_s_teams(staff_a, team_b):
    with pytest.raises(ActionRefused):
        tokens.create_personal_token(user=staff_a, name="x", teams=[team_b])


def test_service_tokens_act_as_their_own_account(api_client, admin_user, staff_a, team_a):
    with pytest.raises(ActionRefused):
        tokens.create_service_token(acting_user=staff_a, name="Case system", role="coordinator")
    with pytest.raises(ActionRefused):
        tokens.create_service_token(acting_user=admin_user, name="x", role="admin")
    token, raw = tokens.create_service_token(
        acting_user=admin_user, name="Maintenance system", role="staff", teams=[team_a]
    )
    assert token.kind == TokenKind.SERVICE
    body = api_client(raw).get("/api/v1/me/").json()
    assert body["name"] == "Maintenance system" and body["role"] == "staff"
    assert not token.user.has_usable_password()
    assert list(token.user.memberships.values_list("department_id", flat=True)) == [team_a.pk]
    tokens.revoke_token(token=token, acting_user=admin_user)
    token.user.refresh_from_db()
    assert not token.user.is_active


def test_the_schema_and_docs_are_served(client, api_client, token_for, staff_a):
    schema = api_client(token_for(staff_a)).get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert "/api/v1/me/" in schema.json()["paths"]
    client.force_login(staff_a)
    assert client.get("/api/v1/docs/").status_code == 200
