"""The pure matcher, apply_routing, and the rules pages."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox.channels.base import IncomingMessage
from inbox.models import Conversation, ConversationEvent, Flag, Priority, Status
from inbox.services.ingest import ingest_messages
from routing.models import RoutingRule, SlaClock
from routing.rules.apply import apply_routing
from routing.rules.matching import RoutingInput, first_matching_rule, rule_matches
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory


def rule(**kwargs):
    defaults = {
        "active": True,
        "keywords": [],
        "pattern": "",
        "channel_id": None,
        "language": "",
        "sentiment": "",
        "flags_any": 0,
        "contact_tag": "",
    }
    return RoutingRule(**{**defaults, **kwargs})


def test_empty_conditions_match_anything():
    assert rule_matches(rule(), RoutingInput(text="wat dan ook"))


def test_keywords_any_of_case_insensitive():
    r = rule(keywords=["Lekkage", "schimmel"])
    assert rule_matches(r, RoutingInput(text="Er is LEKKAGE"))
    assert not rule_matches(r, RoutingInput(text="huurverhoging"))


def test_regex_and_a_bad_or_slow_pattern_never_matches():
    assert rule_matches(rule(pattern=r"\bhuur\w*"), RoutingInput(text="De huurverhoging"))
    assert not rule_matches(rule(pattern="(unclosed"), RoutingInput(text="(unclosed"))
    assert not rule_matches(rule(pattern=r"(a+)+$"), RoutingInput(text="a" * 40 + "!"))


def test_every_set_condition_must_hold():
    r = rule(
        keywords=["ketel"],
        language="nl",
        sentiment="negative",
        flags_any=int(Flag.THREAT | Flag.ABUSE),
        contact_tag="vip",
        channel_id=3,
    )
    good = RoutingInput(
        text="ketel stuk",
        channel_id=3,
        language="nl",
        sentiment="negative",
        flags=int(Flag.ABUSE),
        contact_tags=("vip",),
    )
    assert rule_matches(r, good)
    from dataclasses import replace

    for change in [
        {"language": "en"},
        {"sentiment": "neutral"},
        {"flags": 0},
        {"contact_tags": ()},
        {"channel_id": 4},
    ]:
        assert not rule_matches(r, replace(good, **change))


def test_first_match_wins_and_inactive_rules_are_skipped():
    a = rule(name="a", keywords=["x"], active=False)
    b = rule(name="b", keywords=["x"])
    c = rule(name="c")
    assert first_matching_rule([a, b, c], RoutingInput(text="x")) is b
    assert first_matching_rule([a, b], RoutingInput(text="y")) is None


@pytest.mark.django_db
def test_apply_routing_suggests_forwards_and_sets_priority(channel, team_a, team_b):
    suggest = ConversationFactory(channel=channel, snippet="vraag over de huur")
    auto = ConversationFactory(channel=channel, snippet="lekkage in de keuken")
    untouched = ConversationFactory(channel=channel, snippet="iets anders")
    RoutingRule.objects.create(
        order=0,
        name="lek",
        keywords=["lekkage"],
        department=team_a,
        auto_forward=True,
        set_priority=Priority.HIGH,
    )
    RoutingRule.objects.create(order=1, name="huur", keywords=["huur"], department=team_b)
    matched = apply_routing(conversation_ids=[suggest.pk, auto.pk, untouched.pk])
    assert set(matched) == {suggest.pk, auto.pk}
    for c in (suggest, auto, untouched):
        c.refresh_from_db()
    assert suggest.suggested_department == team_b and suggest.department is None
    assert (
        auto.department == team_a
        and auto.status == Status.TRIAGED
        and auto.priority == Priority.HIGH
    )
    assert untouched.version == 1
    assert ConversationEvent.objects.filter(kind="auto_forwarded", conversation=auto).count() == 1
    assert ConversationEvent.objects.filter(kind="routed", conversation=suggest).count() == 1


@pytest.mark.django_db
def test_rules_page_create_try_and_reorder(client, coordinator, staff_a, team_a, channel):
    MessageFactory(
        conversation=ConversationFactory(channel=channel), text="Schimmel in de badkamer"
    )
    MessageFactory(conversation=ConversationFactory(channel=channel), text="Bedankt!")
    client.force_login(staff_a)
    assert client.get(reverse("routing:rules")).status_code == 403
    client.force_login(coordinator)
    assert client.get(reverse("routing:rules")).status_code == 200
    data = {
        "name": "Schimmel",
        "active": "on",
        "keywords_text": "schimmel, vocht",
        "department": team_a.pk,
    }
    tried = client.post(reverse("routing:rule_try"), data, headers={"HX-Request": "true"})
    assert b"would have matched 1 of the last 2 messages" in tried.content
    assert not RoutingRule.objects.exists()  # trying saves nothing
    bad = client.post(
        reverse("routing:rule_try"), {**data, "pattern": "(oops"}, headers={"HX-Request": "true"}
    )
    assert b"Not a valid regular expression" in bad.content
    assert client.post(reverse("routing:rules"), data).status_code == 302
    client.post(reverse("routing:rules"), {**data, "name": "Tweede"})
    first, second = RoutingRule.objects.order_by("order")
    assert first.keywords == ["schimmel", "vocht"]
    client.post(reverse("routing:rule_move", args=[second.pk]), {"direction": "up"})
    assert list(RoutingRule.objects.order_by("order").values_list("name", flat=True)) == [
        "Tweede",
        "Schimmel",
    ]
    assert client.get(reverse("routing:rule_move", args=[second.pk])).status_code == 405


@pytest.mark.django_db
def test_departments_page(client, coordinator, staff_a, team_a):
    client.force_login(coordinator)
    response = client.get(reverse("routing:departments"))
    assert response.status_code == 200 and b"Anna de Vries" in response.content


@pytest.mark.django_db
def test_auto_forwarding_moves_the_clocks_to_the_teams_calendar_at_a_fixed_query_count(
    team_a, office_calendar, policy
):
    """Ingest routes new conversations in batches: the forwarded ones are reclocked together,
    not one policy-and-calendar load per row (40 ms each on SQLite, minutes for a backfill)."""
    team_a.calendar = office_calendar
    team_a.save()
    friday_1645 = datetime(2026, 3, 13, 16, 45, tzinfo=ZoneInfo("Europe/Amsterdam"))
    monday_0915 = datetime(2026, 3, 16, 9, 15, tzinfo=ZoneInfo("Europe/Amsterdam"))
    RoutingRule.objects.create(
        order=0, name="lek", keywords=["lekkage"], department=team_a, auto_forward=True
    )
    queries = []
    for n in (2, 20):
        channel = ChannelFactory()
        with time_machine.travel(friday_1645, tick=False):
            ingest_messages(channel=channel, messages=[mention(i) for i in range(n)])
            conversations = list(Conversation.objects.filter(channel=channel))
            Conversation.objects.filter(channel=channel).update(department=None, status="new")
            with CaptureQueriesContext(connection) as ctx:
                apply_routing(conversation_ids=[c.pk for c in conversations])
        queries.append(len(ctx.captured_queries))
        due = set(
            SlaClock.objects.filter(
                conversation__channel=channel, kind="first_response"
            ).values_list("due_at", flat=True)
        )
        assert due == {monday_0915}, (n, due)  # 30 business minutes from Friday 16:45
    assert queries[0] == queries[1], queries


def mention(i: int) -> IncomingMessage:
    return IncomingMessage(
        external_id=f"lek-{i}",
        text=f"Lekkage in de keuken, nummer {i}",
        created_at=datetime(2026, 3, 13, 15, 45, tzinfo=UTC),
        author_id=f"bewoner-{i}",
        author_handle=f"bewoner{i}",
    )
