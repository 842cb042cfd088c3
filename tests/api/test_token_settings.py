"""Settings → API tokens: list, create (the token shown once and never again), revoke."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api import tokens
from api.models import ApiToken, TokenKind

pytestmark = pytest.mark.django_db


def test_a_new_token_is_shown_once_and_works(client, api_client, staff_a, team_a):
    client.force_login(staff_a)
    response = client.post(
        reverse("tokens:create"),
        {"name": "Power BI", "scope": "read", "teams": [team_a.pk]},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = response.context["raw"]
    assert raw.startswith("wci_") and raw in response.content.decode()
    token = ApiToken.objects.get(name="Power BI")
    assert token.digest == tokens.digest_of(raw) and list(token.teams.all()) == [team_a]
    assert api_client(raw).get("/api/v1/me/").json()["team_ids"] == [team_a.pk]
    # Never again: not on the list, not on the revoke page, nowhere in the database.
    for url in (reverse("tokens:list"), reverse("tokens:revoke", args=[token.pk])):
        page = client.get(url).content.decode()
        assert raw not in page and token.prefix in page
    assert not any(raw in str(v) for v in ApiToken.objects.values().get(pk=token.pk).values())


def test_the_list_shows_what_each_token_may_do(client, staff_a, team_a):
    token, _raw = tokens.create_personal_token(
        user=staff_a, name="Koppeling", scope="write", teams=[team_a]
    )
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    client.force_login(staff_a)
    page = client.get(reverse("tokens:list")).content.decode()
    for text in ("Koppeling", token.prefix, "Read and write", team_a.name.replace("&", "&amp;")):
        assert text in page
    assert "Never" in page  # it does not expire
    assert reverse("tokens:list") in client.get(reverse("settings")).content.decode()


def test_staff_can_limit_a_token_only_to_their_own_teams(client, staff_a, team_b):
    client.force_login(staff_a)
    response = client.post(
        reverse("tokens:create"), {"name": "Stiekem", "scope": "read", "teams": [team_b.pk]}
    )
    assert response.status_code == 200 and "raw" not in response.context
    assert response.context["form"].errors["teams"]
    assert not ApiToken.objects.exists()


def test_bad_input_keeps_what_was_typed(client, staff_a):
    client.force_login(staff_a)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post(
        reverse("tokens:create"), {"name": "Rapport", "scope": "read", "expires_on": yesterday}
    )
    html = response.content.decode()
    assert 'role="alert"' in html and 'value="Rapport"' in html
    assert response.context["form"].errors["expires_on"]


def test_an_expiry_day_ends_the_token(client, api_client, staff_a):
    client.force_login(staff_a)
    day = timezone.localdate() + timedelta(days=3)
    raw = client.post(
        reverse("tokens:create"), {"name": "Kort", "scope": "read", "expires_on": day}
    ).context["raw"]
    token = ApiToken.objects.get(name="Kort")
    assert timezone.localtime(token.expires_at).date() == day
    assert tokens.find_active(raw, now=token.expires_at) is None


def test_revoke_asks_then_revokes(client, api_client, staff_a, staff_b):
    token, raw = tokens.create_personal_token(user=staff_a, name="Oud")
    url = reverse("tokens:revoke", args=[token.pk])
    client.force_login(staff_b)
    assert client.post(url).status_code == 403  # not theirs
    client.force_login(staff_a)
    confirm = client.get(url)
    assert confirm.status_code == 200 and 'method="post"' in confirm.content.decode()
    assert api_client(raw).get("/api/v1/me/").status_code == 200  # a GET revokes nothing
    assert client.post(url).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == staff_a
    assert api_client(raw).get("/api/v1/me/").status_code == 401
    assert "revoked" in client.get(reverse("tokens:list")).content.decode()


def test_admins_create_and_revoke_service_tokens(client, api_client, admin_user, staff_a, team_a):
    client.force_login(staff_a)
    assert client.get(reverse("tokens:service_create")).status_code == 403
    assert (
        reverse("tokens:service_create") not in client.get(reverse("tokens:list")).content.decode()
    )
    client.force_login(admin_user)
    response = client.post(
        reverse("tokens:service_create"),
        {
            "name": "Zaaksysteem",
            "role": "staff",
            "scope": "write",
            "teams": [team_a.pk],
            "rate_per_minute": 120,
        },
    )
    raw = response.context["raw"]
    token = ApiToken.objects.get(name="Zaaksysteem")
    assert token.kind == TokenKind.SERVICE and token.rate_per_minute == 120
    assert token.user.role == "staff" and token.created_by == admin_user
    me = api_client(raw).get("/api/v1/me/").json()
    assert me["token_kind"] == "service" and me["scope"] == "write"
    page = client.get(reverse("tokens:list")).content.decode()
    assert "Zaaksysteem" in page and raw not in page
    client.post(reverse("tokens:revoke", args=[token.pk]))
    assert api_client(raw).get("/api/v1/me/").status_code == 401


def test_a_staff_service_token_needs_a_team(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("tokens:service_create"), {"name": "BI", "role": "staff", "scope": "read"}
    )
    assert response.context["form"].errors["teams"]
    assert not ApiToken.objects.exists()


def test_the_pages_speak_dutch(client, staff_a):
    client.force_login(staff_a)
    client.cookies["django_language"] = "nl"
    page = client.get(reverse("tokens:list"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "Nieuwe persoonlijke token" in page
    form = client.get(reverse("tokens:create"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "Verloopt op" in form and '<label for="id_name"' in form
