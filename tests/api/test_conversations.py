"""/api/v1/conversations/: the list and its keyset pages, one conversation, and the actions,
each through the UI's service (its audit event, its SLA hooks) and inside the token's scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.models import (
    Conversation,
    ConversationEvent,
    Flag,
    HouseRule,
    NoReplyReason,
    SlaState,
    Status,
)
from routing.sla import hooks
from tests.factories import ContactFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")
LIST = "/api/v1/conversations/"


def url(conv, action: str = "") -> str:
    return f"{LIST}{conv.pk}/" + (f"{action}/" if action else "")


@pytest.fixture
def house_rule(db):
    return HouseRule.objects.create(
        title="Geen gescheld in de reacties", text="Wij verbergen schelden."
    )


@pytest.fixture
def reason(db):
    return NoReplyReason.objects.create(label="Een geautomatiseerd account")


@pytest.fixture
def in_a(channel, team_a):
    conv = ConversationFactory(channel=channel, department=team_a, status=Status.TRIAGED)
    MessageFactory(conversation=conv, text="Mijn cv-ketel is stuk.")
    MessageFactory(conversation=conv, text="Nog steeds geen warm water.")
    return conv


@pytest.fixture
def in_b(channel, team_b):
    return ConversationFactory(channel=channel, department=team_b, status=Status.TRIAGED)


@pytest.fixture
def shared(channel):
    return ConversationFactory(channel=channel)


@pytest.fixture
def coord(api_client, token_for, coordinator):
    return api_client(token_for(coordinator, scope="write"))


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- The list -------------------------------------------------------------------------------


def test_each_person_lists_what_they_see_in_the_ui(
    api_client, token_for, coordinator, staff_a, team_b, in_a, in_b, shared
):
    assert set(ids(api_client(token_for(coordinator)).get(LIST))) == {in_a.pk, in_b.pk, shared.pk}
    assert ids(api_client(token_for(staff_a)).get(LIST)) == [in_a.pk]
    # A coordinator's token limited to team B sees team B only (not the shared queue either).
    assert ids(api_client(token_for(coordinator, teams=[team_b])).get(LIST)) == [in_b.pk]


def test_a_row_says_what_the_inbox_row_shows(api_client, token_for, coordinator, in_a, team_a):
    in_a.flags = Flag.THREAT | Flag.PRESS
    in_a.assignee = coordinator
    in_a.save()
    row = api_client(token_for(coordinator)).get(LIST).json()["results"][0]
    assert row["channel"] == {"id": in_a.channel_id, "kind": "x", "name": in_a.channel.name}
    assert row["contact"] == {
        "id": in_a.contact_id,
        "handle": in_a.contact.handle,
        "name": in_a.contact.name,
    }
    assert row["department"] == {"id": team_a.pk, "name": team_a.name}
    assert row["assignee"] == {"id": coordinator.pk, "name": "Cora Coördinator"}
    assert row["flags"] == ["threat", "press"]
    assert row["version"] == in_a.version and row["status"] == "triaged"
    assert row["snippet"] == in_a.snippet and row["sla_state"] == "none"


def test_the_list_row_is_the_documented_row(api_client, token_for, coordinator, in_a, shared):
    """The list builds its rows by hand (speed); they must be what the schema documents."""
    from api.serializers.conversations import ConversationSerializer

    in_a.flags = int(Flag.VIP)
    in_a.assignee = coordinator
    in_a.sla_due_at = timezone.now()
    in_a.save()
    rows = api_client(token_for(coordinator)).get(LIST).json()["results"]
    documented = [
        ConversationSerializer(Conversation.objects.get(pk=row["id"])).data for row in rows
    ]
    assert rows == documented and len(rows) == 2


def test_pages_continue_exactly_where_the_last_one_ended(api_client, token_for, coordinator):
    start = timezone.now()
    # Ties on received_at: the id settles the order, as in the inbox's keyset.
    made = [ConversationFactory(received_at=start - timedelta(minutes=i // 2)) for i in range(11)]
    expected = [c.pk for c in sorted(made, key=lambda c: (c.received_at, c.pk), reverse=True)]
    client = api_client(token_for(coordinator))
    seen: list[int] = []
    response = client.get(LIST, {"limit": 4})
    pages = 0
    while True:
        seen += ids(response)
        pages += 1
        following = response.json()["next"]
        if following is None:
            break
        assert "limit=4" in following
        response = client.get(following)
    assert seen == expected and pages == 3


def test_filters(api_client, token_for, coordinator, channel, team_a, in_a, in_b, shared):
    other_channel = ContactFactory().channel
    urgent = ConversationFactory(
        channel=other_channel,
        flags=int(Flag.THREAT),
        sentiment="negative",
        language="en",
        sla_state=SlaState.OVERDUE,
        snippet="Ik kom naar jullie kantoor",
    )
    closed = ConversationFactory(channel=channel, status=Status.CLOSED)
    in_a.assignee = coordinator
    in_a.save()
    client = api_client(token_for(coordinator))

    def found(**query) -> set[int]:
        return set(ids(client.get(LIST, query)))

    assert closed.pk not in found()
    assert found(status="closed") == {closed.pk}
    assert closed.pk in found(status="all")
    assert found(department=team_a.pk) == {in_a.pk}
    assert found(department="none") == {shared.pk, urgent.pk}
    assert found(channel=other_channel.pk) == {urgent.pk}
    assert found(flag="threat") == {urgent.pk}
    assert found(language="en") == {urgent.pk}
    assert found(sentiment="negative") == {urgent.pk}
    assert found(overdue="true") == {urgent.pk}
    assert found(unassigned="true") == {in_b.pk, shared.pk, urgent.pk}
    assert found(q="kantoor") == {urgent.pk}


@pytest.mark.parametrize(
    "query, field",
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "MjAyNi0wMS0wMXwx"}, "cursor"),  # a naive time: not one of ours
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"department": 999999}, "department"),
        ({"department": "9" * 30}, "department"),
        ({"channel": "9" * 30}, "channel"),
        ({"status": "gone"}, "status"),
        ({"flag": "purple"}, "flag"),
    ],
)
def test_bad_query_is_a_400_naming_the_field(api_client, token_for, coordinator, query, field):
    response = api_client(token_for(coordinator)).get(LIST, query)
    assert response.status_code == 400
    assert field in response.json()


def test_out_of_range_numbers_are_answered_not_a_500(api_client, token_for, coordinator, shared):
    from api.serializers.conversations import encode_cursor

    client = api_client(token_for(coordinator, scope="write"))
    far = encode_cursor((timezone.now() + timedelta(days=1), 10**30))
    assert ids(client.get(LIST, {"cursor": far})) == [shared.pk]
    assert client.get(f"{LIST}{10**30}/").status_code == 404
    response = client.post(
        url(shared, "assign"), {"assignee": 10**30, "version": 10**30}, format="json"
    )
    assert response.status_code == 400


def test_the_list_reads_a_fixed_number_of_queries(api_client, token_for, coordinator, team_a):
    client = api_client(token_for(coordinator))
    ConversationFactory(department=team_a, assignee=coordinator)
    client.get(LIST)  # the token's first use writes last_used_at

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST).status_code == 200
        return len(queries)

    few = count()
    for _ in range(6):
        ConversationFactory(department=team_a, assignee=coordinator)
    assert count() == few


# --- One conversation -----------------------------------------------------------------------


def test_detail_has_the_thread(api_client, token_for, staff_a, in_a):
    body = api_client(token_for(staff_a)).get(url(in_a)).json()
    assert [m["text"] for m in body["messages"]] == [
        "Mijn cv-ketel is stuk.",
        "Nog steeds geen warm water.",
    ]
    assert body["earlier_messages"] is False and body["replies"] == [] and body["notes"] == []


def test_another_team_s_conversation_is_a_404(
    api_client, token_for, coordinator, staff_a, team_b, in_a, in_b
):
    assert api_client(token_for(staff_a)).get(url(in_b)).status_code == 404
    limited = api_client(token_for(coordinator, scope="write", teams=[team_b]))
    assert limited.get(url(in_a)).status_code == 404
    assert limited.get(url(in_b)).status_code == 200
    assert api_client(token_for(staff_a)).get(f"{LIST}999999/").status_code == 404


# --- Actions --------------------------------------------------------------------------------


def test_forward_is_the_ui_s_forward(coord, coordinator, shared, team_a, office_calendar, policy):
    """The same audit event, and the SLA hook recomputes the due time in the team's calendar
    (tests/inbox/test_triage_sla.py: Friday 16:45 + 30 business minutes = Monday 09:15)."""
    team_a.calendar = office_calendar
    team_a.save()
    friday = datetime(2026, 3, 13, 16, 45, tzinfo=AMS)
    shared.received_at = friday
    shared.save()
    hooks.on_conversation_opened(shared)
    with time_machine.travel(friday + timedelta(minutes=5), tick=False):
        response = coord.post(
            url(shared, "forward"),
            {"department": team_a.pk, "version": 1, "note": "Voor jullie"},
            format="json",
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["department"]["id"] == team_a.pk and body["version"] == 2
    assert body["status"] == "triaged"
    event = ConversationEvent.objects.get(conversation=shared)
    assert (event.kind, event.actor, event.data["note"]) == (
        "forwarded",
        coordinator,
        "Voor jullie",
    )
    shared.refresh_from_db()
    assert shared.first_response_due_at == datetime(2026, 3, 16, 9, 15, tzinfo=AMS)


def test_a_stale_version_is_a_409_and_changes_nothing(coord, shared, team_a):
    shared.version = 3
    shared.save()
    response = coord.post(
        url(shared, "forward"), {"department": team_a.pk, "version": 2}, format="json"
    )
    assert response.status_code == 409
    assert "detail" in response.json()
    shared.refresh_from_db()
    assert shared.department is None and shared.version == 3


def test_bad_input_is_a_400_with_field_errors(coord, shared, team_a):
    response = coord.post(
        url(shared, "forward"), {"department": 999999, "version": 1}, format="json"
    )
    assert response.status_code == 400 and "department" in response.json()
    response = coord.post(url(shared, "forward"), {"department": team_a.pk}, format="json")
    assert response.status_code == 400 and "version" in response.json()
    response = coord.post(url(shared, "hide"), {"house_rule": "x", "version": 1}, format="json")
    assert response.status_code == 400 and "house_rule" in response.json()
    assert not ConversationEvent.objects.exists()


def test_hide_quotes_the_house_rule(coord, shared, house_rule):
    response = coord.post(
        url(shared, "hide"), {"house_rule": house_rule.pk, "version": 1}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "hidden"
    event = ConversationEvent.objects.get(conversation=shared)
    assert event.kind == "hidden" and event.data["rule_text"] == house_rule.text


def test_no_reply_needed_stops_the_clocks(coord, shared, reason, policy):
    hooks.on_conversation_opened(shared)
    shared.refresh_from_db()
    assert shared.sla_state == SlaState.OK
    response = coord.post(
        url(shared, "no-reply-needed"),
        {"reason": reason.pk, "version": 1, "note": "bot"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "no_reply_needed"
    assert response.json()["sla_state"] == "none"
    assert ConversationEvent.objects.get(conversation=shared).kind == "no_reply_needed"


def test_assign_by_a_coordinator_and_within_the_team(
    api_client, token_for, coord, coordinator, staff_a, lead_a, staff_b, in_a
):
    response = coord.post(
        url(in_a, "assign"), {"assignee": staff_a.pk, "version": 1}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["assignee"]["id"] == staff_a.pk
    staff = api_client(token_for(staff_a, scope="write"))
    # Staff give it to a member of the team only, as in the workspace.
    refused = staff.post(url(in_a, "assign"), {"assignee": staff_b.pk, "version": 2}, format="json")
    assert refused.status_code == 400 and "detail" in refused.json()
    assert (
        staff.post(
            url(in_a, "assign"), {"assignee": lead_a.pk, "version": 1}, format="json"
        ).status_code
        == 409
    )
    done = staff.post(url(in_a, "assign"), {"assignee": lead_a.pk, "version": 2}, format="json")
    assert done.status_code == 200 and done.json()["version"] == 3
    kinds = list(
        ConversationEvent.objects.filter(conversation=in_a).order_by("id").values_list("kind")
    )
    assert kinds == [("assigned",), ("reassigned",)]


def test_triage_is_for_coordinators(api_client, token_for, staff_a, manager, in_a, reason):
    for person in (staff_a, manager):
        client = api_client(token_for(person, scope="write"))
        response = client.post(
            url(in_a, "no-reply-needed"), {"reason": reason.pk, "version": 1}, format="json"
        )
        assert response.status_code == 403
    assert not ConversationEvent.objects.exists()


def test_team_actions(api_client, token_for, staff_a, in_a):
    client = api_client(token_for(staff_a, scope="write"))
    claimed = client.post(url(in_a, "claim"), {"version": 1}, format="json")
    assert claimed.status_code == 200
    assert claimed.json()["assignee"]["id"] == staff_a.pk
    assert client.post(url(in_a, "waiting"), {}, format="json").json()["status"] == "waiting"
    assert (
        client.post(url(in_a, "close"), {"reason": "Opgelost"}, format="json").json()["status"]
        == "closed"
    )
    kinds = [e.kind for e in ConversationEvent.objects.filter(conversation=in_a).order_by("id")]
    assert kinds == ["claimed", "waiting", "closed"]


ACTIONS = ["forward", "assign", "hide", "no-reply-needed", "claim", "close", "waiting"]


@pytest.mark.parametrize("action", ACTIONS)
def test_another_team_cannot_act(
    api_client, token_for, staff_a, coordinator, team_a, team_b, in_a, in_b, action
):
    body = {"version": 1, "department": team_a.pk}
    staff = api_client(token_for(staff_a, scope="write"))
    assert staff.post(url(in_b, action), body, format="json").status_code == 404
    limited = api_client(token_for(coordinator, scope="write", teams=[team_b]))
    assert limited.post(url(in_a, action), body, format="json").status_code == 404
    assert not ConversationEvent.objects.exists()


@pytest.mark.parametrize("action", ACTIONS)
def test_a_read_only_token_cannot_write(api_client, token_for, coordinator, in_a, team_a, action):
    response = api_client(token_for(coordinator, scope="read")).post(
        url(in_a, action), {"version": 1, "department": team_a.pk}, format="json"
    )
    assert response.status_code == 403
    assert not ConversationEvent.objects.exists()


def test_a_team_limited_token_cannot_forward_beyond_its_teams(
    api_client, token_for, coordinator, team_a, team_b, in_b
):
    client = api_client(token_for(coordinator, scope="write", teams=[team_b]))
    response = client.post(
        url(in_b, "forward"), {"department": team_a.pk, "version": 1}, format="json"
    )
    assert response.status_code == 403
    in_b.refresh_from_db()
    assert in_b.department == team_b and in_b.version == 1


def test_the_schema_describes_every_route(api_client, token_for, staff_a):
    paths = api_client(token_for(staff_a)).get("/api/v1/schema/?format=json").json()["paths"]
    for path in [
        "/api/v1/conversations/",
        "/api/v1/conversations/{id}/",
        *[f"/api/v1/conversations/{{id}}/{action}/" for action in ACTIONS],
        "/api/v1/conversations/{id}/replies/",
        "/api/v1/replies/{id}/",
        "/api/v1/replies/{id}/submit/",
        "/api/v1/replies/{id}/approve/",
    ]:
        assert path in paths


@pytest.mark.postgres
@pytest.mark.parametrize("who", ["coordinator", "staff_a"])
def test_a_page_is_read_from_the_inbox_index_without_a_sort(
    request, api_client, token_for, channel, team_a, team_b, who
):
    """The list's default (open conversations, every team the person sees), on a table where
    most rows are closed: PostgreSQL reads the page in order from conv_open_inbox_idx, as the
    inbox does, and stops after it; no sort, no count, whatever the table's size."""
    from django.db.models import Q

    from api.serializers.conversations import ConversationListQuerySerializer
    from api.views.conversations import filtered
    from inbox.models import Contact
    from inbox.selectors.inbox import conversations_visible_to

    user = request.getfixturevalue(who)
    contact = Contact.objects.create(channel=channel, external_id="c", handle="huurder")
    now = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(
            channel=channel,
            contact=contact,
            thread_key=f"t{i}",
            status=Status.CLOSED if i % 10 else Status.TRIAGED,
            department=(team_a, team_b, None)[i % 3],
            received_at=now - timedelta(seconds=i),
            last_message_at=now,
        )
        for i in range(20000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_conversation")
    first = api_client(token_for(user)).get(LIST, {"limit": 50}).json()
    cursor_key = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    query = ConversationListQuerySerializer(data={"cursor": cursor_key})
    query.is_valid(raise_exception=True)
    received_at, pk = query.validated_data["cursor"]
    qs = filtered(conversations_visible_to(user), query.validated_data).filter(
        Q(received_at__lt=received_at) | Q(received_at=received_at, id__lt=pk),
        received_at__lte=received_at,
    )
    plan = qs.order_by("-received_at", "-id")[:51].explain()
    assert "conv_open_inbox_idx" in plan and "Sort" not in plan, plan


# --- Labels ---------------------------------------------------------------------------------


@pytest.fixture
def leak(db):
    from inbox.models import Label

    return Label.objects.create(name="Lekkage", colour="blue")


def test_labels_are_set_through_the_ui_s_service_and_shown_on_the_row(
    api_client, token_for, staff_a, in_a, leak
):
    from inbox.models import Label

    archived = Label.objects.create(name="Oud", is_active=False)
    client = api_client(token_for(staff_a, scope="write"))
    response = client.post(
        url(in_a, "labels"), {"add": [leak.pk], "version": in_a.version}, format="json"
    )
    assert response.status_code == 200, response.content
    row = response.json()
    assert row["labels"] == [{"id": leak.pk, "name": "Lekkage", "colour": "blue"}]
    assert ConversationEvent.objects.filter(conversation=in_a, kind="labelled").count() == 1
    # The detail and the list show it too.
    assert client.get(url(in_a)).json()["labels"][0]["name"] == "Lekkage"
    # A stale version is a conflict; an archived label is refused with its reason.
    stale = client.post(
        url(in_a, "labels"), {"remove": [leak.pk], "version": in_a.version}, format="json"
    )
    assert stale.status_code == 409
    refused = client.post(
        url(in_a, "labels"), {"add": [archived.pk], "version": row["version"]}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["detail"]
    unknown = client.post(
        url(in_a, "labels"), {"add": [999999], "version": row["version"]}, format="json"
    )
    assert unknown.status_code == 400 and "add" in unknown.json()


def test_another_team_s_staff_cannot_label(api_client, token_for, staff_b, in_a, leak):
    client = api_client(token_for(staff_b, scope="write"))
    response = client.post(
        url(in_a, "labels"), {"add": [leak.pk], "version": in_a.version}, format="json"
    )
    assert response.status_code == 404
    assert not in_a.labels.exists()


def test_the_list_filters_by_label_without_a_query_per_row(
    coord, coordinator, channel, team_a, leak
):
    from inbox.services.labels import set_labels

    labelled = [
        ConversationFactory(channel=channel, department=team_a, status=Status.TRIAGED)
        for _ in range(3)
    ]
    ConversationFactory(channel=channel, department=team_a, status=Status.TRIAGED)
    for conv in labelled:
        set_labels(conversation=conv, add=[leak], remove=[], acting_user=coordinator)
    assert sorted(ids(coord.get(LIST, {"label": leak.pk}))) == sorted(c.pk for c in labelled)
    with CaptureQueriesContext(connection) as few:
        coord.get(LIST, {"limit": 1})
    with CaptureQueriesContext(connection) as many:
        coord.get(LIST, {"limit": 4})
    assert len(many) == len(few)


# --- Needs a reply --------------------------------------------------------------------------


def test_the_row_carries_the_needs_reply_hint(coord, channel):
    scored = ConversationFactory(
        channel=channel, needs_reply=82, needs_reply_reasons="question,request"
    )
    unscored = ConversationFactory(channel=channel, needs_reply=None)
    rows = {row["id"]: row for row in coord.get(LIST).json()["results"]}
    assert rows[scored.pk]["needs_reply"] == 82
    assert rows[scored.pk]["needs_reply_reasons"] == ["question", "request"]
    assert rows[unscored.pk]["needs_reply"] is None
    assert rows[unscored.pk]["needs_reply_reasons"] == []
    assert coord.get(url(scored)).json()["needs_reply"] == 82


def test_no_reply_likely_is_the_inbox_s_filter(coord, coordinator, channel):
    """The same rows as the inbox's "no reply likely" view: below the threshold, not unscored."""
    from inbox.selectors.inbox import NO_REPLY_LIKELY_BELOW, inbox_queryset

    made = {
        score: ConversationFactory(channel=channel, needs_reply=score)
        for score in (0, NO_REPLY_LIKELY_BELOW - 1, NO_REPLY_LIKELY_BELOW, 97)
    }
    ConversationFactory(channel=channel, needs_reply=None)
    found = set(ids(coord.get(LIST, {"no_reply_likely": "true"})))
    assert found == {made[0].pk, made[NO_REPLY_LIKELY_BELOW - 1].pk}
    inbox_qs, _shared = inbox_queryset(coordinator, {"no_reply_likely": True})
    assert found == set(inbox_qs.values_list("pk", flat=True))
    assert len(ids(coord.get(LIST))) == 5  # nothing hidden without the filter


def test_sorted_by_needs_reply_pages_continue_with_the_unscored_last(coord, channel):
    now = timezone.now()
    scores = [None, 10, 90, 90, 55, None, 3, 90]
    made = [
        ConversationFactory(
            channel=channel, needs_reply=score, received_at=now - timedelta(minutes=i // 2)
        )
        for i, score in enumerate(scores)
    ]
    expected = [
        c.pk
        for c in sorted(
            made,
            key=lambda c: (
                c.needs_reply if c.needs_reply is not None else -1,
                c.received_at,
                c.pk,
            ),
            reverse=True,
        )
    ]
    seen: list[int] = []
    response = coord.get(LIST, {"sort": "needs_reply", "limit": 3})
    while True:
        seen += ids(response)
        following = response.json()["next"]
        if following is None:
            break
        assert "sort=needs_reply" in following
        response = coord.get(following)
    assert seen == expected
    assert [Conversation.objects.get(pk=pk).needs_reply for pk in seen[-2:]] == [None, None]


def test_a_cursor_of_one_order_is_refused_in_the_other(coord, channel):
    from api.serializers.conversations import encode_cursor

    now = timezone.now()
    for i in range(3):
        ConversationFactory(channel=channel, needs_reply=50, received_at=now - timedelta(hours=i))
    newest = parse_qs(urlsplit(coord.get(LIST, {"limit": 1}).json()["next"]).query)["cursor"][0]
    by_score = parse_qs(
        urlsplit(coord.get(LIST, {"limit": 1, "sort": "needs_reply"}).json()["next"]).query
    )["cursor"][0]
    for query in (
        {"sort": "needs_reply", "cursor": newest},
        {"cursor": by_score},
        {"sort": "needs_reply", "cursor": encode_cursor((101, now, 1))},
        {"sort": "needs_reply", "cursor": encode_cursor((-2, now, 1))},
        {"sort": "best"},
    ):
        response = coord.get(LIST, query)
        assert response.status_code == 400, query
        assert set(response.json()) == {"sort" if "best" in query.values() else "cursor"}
    assert len(ids(coord.get(LIST, {"sort": "needs_reply", "cursor": by_score}))) == 2
