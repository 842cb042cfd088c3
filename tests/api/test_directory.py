"""GET contacts, teams and channels: what each person and token sees, paging, bad input."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.channels.credentials import encrypt_credentials
from tests.factories import ContactFactory, ConversationFactory

pytestmark = pytest.mark.django_db


def _contact(channel, team, *, handle: str, hours: int = 1):
    contact = ContactFactory(channel=channel, handle=handle)
    ConversationFactory(
        channel=channel,
        contact=contact,
        department=team,
        received_at=timezone.now() - timedelta(hours=hours),
    )
    return contact


@pytest.fixture
def contacts(channel, team_a, team_b):
    return {
        "a": _contact(channel, team_a, handle="@lekkage"),
        "b": _contact(channel, team_b, handle="@huurachterstand"),
        "shared": _contact(channel, None, handle="@gedeeld"),
    }


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_contacts_are_those_with_a_conversation_you_see(
    api_client, token_for, contacts, coordinator, staff_a, staff_b, team_b
):
    everyone = {c.pk for c in contacts.values()}
    assert ids(api_client(token_for(coordinator)).get("/api/v1/contacts/")) == everyone
    assert ids(api_client(token_for(staff_a)).get("/api/v1/contacts/")) == {contacts["a"].pk}
    assert ids(api_client(token_for(staff_b)).get("/api/v1/contacts/")) == {contacts["b"].pk}
    limited = token_for(coordinator, teams=[team_b])
    assert ids(api_client(limited).get("/api/v1/contacts/")) == {contacts["b"].pk}


def test_contact_pages_continue_where_the_last_ended(api_client, token_for, channel, coordinator):
    made = [_contact(channel, None, handle=f"@klant{i}", hours=i + 1).pk for i in range(7)]
    client = api_client(token_for(coordinator))
    seen: list[int] = []
    url = "/api/v1/contacts/?limit=3"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 3
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == sorted(made, reverse=True)  # newest contact first, none twice, none lost


def test_contact_filters(api_client, token_for, contacts, coordinator):
    client = api_client(token_for(coordinator))
    assert ids(client.get("/api/v1/contacts/", {"handle": "@lekkage"})) == {contacts["a"].pk}
    assert ids(client.get("/api/v1/contacts/", {"handle": "lekkage"})) == set()
    assert ids(client.get("/api/v1/contacts/", {"search": "ACHTERSTAND"})) == {contacts["b"].pk}


@pytest.mark.parametrize(
    "params",
    [{"cursor": "not-ours"}, {"cursor": "WzEsMl0"}, {"limit": 0}, {"limit": 101}, {"limit": "x"}],
)
def test_bad_paging_is_a_400_naming_the_field(api_client, token_for, coordinator, params):
    response = api_client(token_for(coordinator)).get("/api/v1/contacts/", params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


def test_contact_list_queries_do_not_grow_with_rows(
    api_client, token_for, channel, coordinator, django_assert_max_num_queries
):
    client = api_client(token_for(coordinator))
    for i in range(3):
        _contact(channel, None, handle=f"@a{i}")
    client.get("/api/v1/contacts/")  # token touched: its last-used write is behind us
    with django_assert_max_num_queries(4) as few:
        client.get("/api/v1/contacts/")
    for i in range(20):
        _contact(channel, None, handle=f"@b{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/v1/contacts/").json()["results"]) == 23


def test_contact_detail_shows_only_conversations_you_see(
    api_client, token_for, channel, team_a, team_b, staff_a, staff_b, coordinator
):
    contact = _contact(channel, team_a, handle="@beide")
    other = ConversationFactory(channel=channel, contact=contact, department=team_b)
    url = f"/api/v1/contacts/{contact.pk}/"
    body = api_client(token_for(staff_a)).get(url).json()
    assert body["handle"] == "@beide"
    assert [c["department_id"] for c in body["conversations"]] == [team_a.pk]
    both = api_client(token_for(coordinator)).get(url).json()["conversations"]
    assert {c["id"] for c in both} >= {other.pk}
    assert api_client(token_for(staff_b)).get(url).status_code == 200  # team B's conversation
    only_a = ContactFactory(channel=channel)
    ConversationFactory(channel=channel, contact=only_a, department=team_a)
    assert api_client(token_for(staff_b)).get(f"/api/v1/contacts/{only_a.pk}/").status_code == 404
    limited = token_for(coordinator, teams=[team_b])
    assert api_client(limited).get(f"/api/v1/contacts/{only_a.pk}/").status_code == 404


def test_teams_you_see_and_their_members(
    api_client, token_for, team_a, team_b, staff_a, lead_a, staff_b, coordinator
):
    names = lambda r: {t["name"] for t in r.json()}  # noqa: E731
    assert names(api_client(token_for(coordinator)).get("/api/v1/teams/")) == {
        team_a.name,
        team_b.name,
    }
    assert names(api_client(token_for(staff_a)).get("/api/v1/teams/")) == {team_a.name}
    limited = token_for(coordinator, teams=[team_b])
    assert names(api_client(limited).get("/api/v1/teams/")) == {team_b.name}

    detail = api_client(token_for(staff_a)).get(f"/api/v1/teams/{team_a.pk}/").json()
    assert detail["members"][0] == {"id": lead_a.pk, "name": str(lead_a), "is_lead": True}
    assert {m["id"] for m in detail["members"]} == {staff_a.pk, lead_a.pk}
    assert api_client(token_for(staff_b)).get(f"/api/v1/teams/{team_a.pk}/").status_code == 404
    assert api_client(limited).get(f"/api/v1/teams/{team_a.pk}/").status_code == 404


def test_channels_never_show_credentials(api_client, token_for, staff_a):
    from inbox.models import Channel

    secret = "s3cr3t-app-password"
    Channel.objects.create(
        kind="email",
        name="Klantenservice mail",
        credentials_encrypted=encrypt_credentials({"password": secret}),
        config={"host": "imap.example.nl", "username": "webcare"},
        last_error="login failed for webcare",
    )
    response = api_client(token_for(staff_a)).get("/api/v1/channels/")
    assert response.status_code == 200
    text = json.dumps(response.json())
    for leak in (secret, "credentials", "imap.example.nl", "config", "login failed", "cursor"):
        assert leak not in text
    (row,) = response.json()
    assert row["name"] == "Klantenservice mail" and row["status"] == "ok"


def test_reads_refuse_anonymous_and_writes_are_not_routes(api_client, token_for, coordinator):
    assert api_client().get("/api/v1/contacts/").status_code == 401
    response = api_client(token_for(coordinator, scope="write")).post("/api/v1/teams/", {})
    assert response.status_code == 405
