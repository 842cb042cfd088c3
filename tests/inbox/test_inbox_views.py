"""The inbox page, the panel and the triage views: methods, roles, htmx vs plain, query counts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation, ConversationEvent, Flag, HouseRule, SavedView, Status
from inbox.services import presence, triage
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


@pytest.fixture
def coord_client(client, coordinator):
    client.force_login(coordinator)
    return client


def make_rows(channel, n, **kwargs):
    now = timezone.now()
    return [
        ConversationFactory(channel=channel, received_at=now - timedelta(minutes=i), **kwargs)
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [5, 50])
def test_inbox_query_count_does_not_grow_with_rows(
    coord_client, coordinator, channel, team_a, n, django_assert_num_queries
):
    # Rows with an SLA clock and an assignee, so the SLA badge renders: the page loads only
    # selectors.INBOX_ROW_FIELDS, and a row reading another column would add a query per row.
    make_rows(
        channel,
        n,
        sla_state="ok",
        sla_due_at=timezone.now() + timedelta(hours=1),
        assignee=coordinator,
        flags=int(Flag.PRESS),
    )
    # user (the session comes from the cache), the header's two (team lead? unread
    # notifications), saved views, the page, and ONE union query for all select choices
    # (departments, channels, users, reasons, rules, labels) and ONE for the page's labels are
    # fixed; rows add nothing (the contact comes in the page's JOIN, the other names from the
    # select choices).
    with django_assert_num_queries(7):
        response = coord_client.get(reverse("inbox:inbox"))
    assert response.status_code == 200
    assert response.content.count(b"data-row ") == n
    assert response.content.count(b'data-sla-state="ok"') == n


def test_inbox_shows_only_the_shared_queue(coord_client, channel, team_a):
    shared = ConversationFactory(channel=channel, snippet="nog niet doorgestuurd")
    ConversationFactory(
        channel=channel, snippet="al bij een team", department=team_a, status=Status.TRIAGED
    )
    ConversationFactory(channel=channel, snippet="afgehandeld", status=Status.CLOSED)
    body = coord_client.get(reverse("inbox:inbox")).content.decode()
    assert f'id="conversation-{shared.pk}"' in body
    assert "al bij een team" not in body and "afgehandeld" not in body
    body = coord_client.get(reverse("inbox:inbox"), {"department": team_a.pk}).content.decode()
    assert "al bij een team" in body and "nog niet doorgestuurd" not in body


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"flag": int(Flag.THREAT)}, "dreiging"),
        ({"language": "en"}, "english text"),
        ({"sentiment": "negative"}, "boos bericht"),
        ({"unassigned": "on"}, None),
        ({"overdue": "on"}, "te laat"),
        ({"q": "ketel"}, "cv-ketel"),
        ({"q": "boiler"}, "english text"),
        ({"status": "closed"}, "gesloten"),
    ],
)
def test_filters(coord_client, channel, params, expect):
    ConversationFactory(channel=channel, snippet="dreiging hier", flags=Flag.THREAT | Flag.ABUSE)
    ConversationFactory(channel=channel, snippet="english text my boiler broke", language="en")
    ConversationFactory(channel=channel, snippet="boos bericht", sentiment="negative")
    ConversationFactory(channel=channel, snippet="te laat", sla_state="overdue")
    ConversationFactory(channel=channel, snippet="mijn cv-ketel is stuk")
    ConversationFactory(channel=channel, snippet="gesloten", status=Status.CLOSED)
    response = coord_client.get(reverse("inbox:inbox"), params)
    body = response.content.decode()
    assert response.status_code == 200
    if expect:
        assert expect in body
        shown = body.count("data-row ")
        assert 1 <= shown < 6


def test_full_text_search_uses_dutch_stemming(coord_client, channel):
    ConversationFactory(channel=channel, snippet="Er zijn lekkages in de badkamer")
    ConversationFactory(channel=channel, snippet="Alles in orde")
    body = coord_client.get(reverse("inbox:inbox"), {"q": "lekkage"}).content.decode()
    assert "lekkages" in body and "Alles in orde" not in body


def test_keyset_pages_and_htmx_fragment(coord_client, channel):
    make_rows(channel, 60)
    first = coord_client.get(reverse("inbox:inbox"))
    assert first.context["next_before"]
    second = coord_client.get(
        reverse("inbox:inbox"), {"before": first.context["next_before"]}, headers=HX
    )
    assert second.templates[0].name == "inbox/inbox_rows.html"
    assert second.content.count(b"data-row ") == 10
    assert coord_client.get(reverse("inbox:inbox"), {"before": "garbage"}).status_code == 404


def test_filter_request_by_htmx_returns_results_fragment(coord_client, channel):
    make_rows(channel, 3)
    response = coord_client.get(
        reverse("inbox:inbox"), {"language": "nl"}, headers={**HX, "HX-Target": "inbox-results"}
    )
    assert response.templates[0].name == "inbox/inbox_results.html"
    assert b"<html" not in response.content


def test_new_marker_counts_newer_rows_capped(coord_client, channel):
    old = ConversationFactory(channel=channel, received_at=timezone.now() - timedelta(hours=1))
    top = f"{old.received_at.isoformat()}_{old.pk}"
    assert coord_client.get(reverse("inbox:inbox_new"), {"after": top}).context["new_count"] == 0
    make_rows(channel, 3)
    response = coord_client.get(reverse("inbox:inbox_new"), {"after": top}, headers=HX)
    assert response.context["new_count"] == 3 and b"3 new" in response.content
    make_rows(channel, 50)
    response = coord_client.get(reverse("inbox:inbox_new"), {"after": top})
    assert b"50+ new" in response.content
    newer = coord_client.get(reverse("inbox:inbox_newer"), {"after": top}, headers=HX)
    assert newer.content.count(b"data-row ") == 50
    assert b'hx-swap-oob="outerHTML"' in newer.content


def test_outsiders_are_refused(client, staff_a, conversation, team_a):
    client.force_login(staff_a)
    for name in ("inbox:inbox", "inbox:inbox_new", "inbox:inbox_newer"):
        assert client.get(reverse(name)).status_code == 403
    url = reverse("inbox:forward", args=[conversation.pk])
    assert client.post(url, {"department": team_a.pk, "version": 1}).status_code == 403
    assert client.post(reverse("inbox:bulk"), {"action": "priority"}).status_code == 403
    # A conversation of no team of hers is not even readable.
    assert client.get(reverse("inbox:conversation", args=[conversation.pk])).status_code == 403


@pytest.mark.parametrize(
    "name",
    [
        "inbox:forward",
        "inbox:assign",
        "inbox:no_reply",
        "inbox:hide",
        "inbox:flag",
        "inbox:priority",
    ],
)
def test_actions_reject_get(coord_client, conversation, name):
    assert coord_client.get(reverse(name, args=[conversation.pk])).status_code == 405


def test_forward_plain_redirects_htmx_returns_panel_and_removes_row(coord_client, channel, team_a):
    a, b = make_rows(channel, 2)
    url = reverse("inbox:forward", args=[a.pk])
    response = coord_client.post(url, {"department": team_a.pk, "version": 1})
    assert response.status_code == 302 and response["Location"] == a.get_absolute_url()
    response = coord_client.post(
        reverse("inbox:forward", args=[b.pk]), {"department": team_a.pk, "version": 1}, headers=HX
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Forwarded to" in body and f'<li id="conversation-{b.pk}" hx-swap-oob="delete">' in body
    b.refresh_from_db()
    assert b.department == team_a


def test_conflict_gives_the_clear_message(coord_client, conversation, team_a, team_b):
    url = reverse("inbox:forward", args=[conversation.pk])
    assert (
        coord_client.post(url, {"department": team_a.pk, "version": 1}, headers=HX).status_code
        == 200
    )
    response = coord_client.post(url, {"department": team_b.pk, "version": 1}, headers=HX)
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#panel-alert"
    assert (
        "changed this conversation in the meantime; reload to see it" in response.content.decode()
    )
    conversation.refresh_from_db()
    assert conversation.department == team_a
    assert ConversationEvent.objects.filter(conversation=conversation).count() == 1


def test_invalid_action_form_is_a_400(coord_client, conversation):
    response = coord_client.post(
        reverse("inbox:hide", args=[conversation.pk]), {"version": 1}, headers=HX
    )
    assert response.status_code == 400


def test_bulk_hide_via_view(coord_client, channel):
    rows = make_rows(channel, 12)
    rule = HouseRule.objects.get_or_create(
        title="No threats", defaults={"text": "We remove threats."}
    )[0]
    data = {"action": "hide", "rule": rule.pk, "selected": [f"{c.pk}:{c.version}" for c in rows]}
    response = coord_client.post(reverse("inbox:bulk"), data, headers=HX)
    assert response.status_code == 200
    assert b"12 conversations done" in response.content
    assert Conversation.objects.filter(status=Status.HIDDEN).count() == 12
    response = coord_client.post(
        reverse("inbox:bulk"), {"action": "hide", "selected": ["1:1"]}, headers=HX
    )
    assert response.status_code == 400


def test_panel_shows_thread_contact_history_and_presence(
    client, coordinator, channel, django_user_model
):
    conv = ConversationFactory(channel=channel)
    ConversationFactory(
        channel=channel, contact=conv.contact, snippet="eerder gesprek", status=Status.CLOSED
    )
    MessageFactory(conversation=conv, text="eerste bericht", url="https://x.com/s/1")
    other = django_user_model.objects.create(username="otto", role="coordinator", first_name="Otto")
    presence.touch(conv.pk, other)
    client.force_login(coordinator)
    response = client.get(reverse("inbox:conversation", args=[conv.pk]), headers=HX)
    body = response.content.decode()
    assert response.templates[0].name == "inbox/conversation_panel.html"
    assert "eerste bericht" in body and "https://x.com/s/1" in body
    assert "eerder gesprek" in body
    assert "Also viewing: Otto" in body
    full = client.get(reverse("inbox:conversation", args=[conv.pk]))
    assert b"<html" in full.content


def test_saved_views(coord_client, coordinator):
    response = coord_client.post(
        reverse("inbox:saved_view_create"), {"name": "Engels", "query": "language=en"}
    )
    assert response.status_code == 302 and response["Location"].endswith("?language=en")
    view = SavedView.objects.get(user=coordinator)
    assert b"Engels" in coord_client.get(reverse("inbox:inbox")).content
    assert coord_client.get(reverse("inbox:saved_view_delete", args=[view.pk])).status_code == 405
    coord_client.post(reverse("inbox:saved_view_delete", args=[view.pk]))
    assert not SavedView.objects.exists()


def test_threat_evidence_export(coord_client, coordinator, conversation):
    MessageFactory(conversation=conversation, text="=HYPERLINK(dreiging)")
    assert coord_client.get(reverse("inbox:evidence", args=[conversation.pk])).status_code == 404
    triage.flag_conversation(
        conversation=conversation, flag=Flag.THREAT, acting_user=coordinator, version=1
    )
    csv_response = coord_client.get(
        reverse("inbox:evidence", args=[conversation.pk]), {"format": "csv"}
    )
    assert csv_response["Content-Type"].startswith("text/csv")
    text = csv_response.content.decode("utf-8-sig")
    assert "'=HYPERLINK(dreiging)" in text and "author_handle" in text
    assert coord_client.get(reverse("inbox:evidence", args=[conversation.pk])).status_code == 200


def test_the_panel_links_threat_evidence_only_where_it_was_kept(coord_client, coordinator):
    """Enrichment's automatic threat flag keeps no evidence: the panel offers flagging by hand
    (which keeps it) instead of a link that answers 404."""
    conversation = ConversationFactory(flags=int(Flag.THREAT))
    MessageFactory(conversation=conversation, text="ik weet waar je woont")
    panel = reverse("inbox:conversation", args=[conversation.pk])
    evidence = reverse("inbox:evidence", args=[conversation.pk])
    page = coord_client.get(panel, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert evidence not in page and "Flag it as a threat to keep the evidence" in page
    triage.flag_conversation(
        conversation=conversation,
        flag=Flag.THREAT,
        acting_user=coordinator,
        version=conversation.version,
    )
    page = coord_client.get(panel, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert evidence in page and "Flag it as a threat to keep the evidence" not in page
    assert coord_client.get(evidence).status_code == 200


def test_house_rules_are_public(client):
    HouseRule.objects.create(title="Geen bedreigingen", text="Bedreigingen verbergen we.")
    HouseRule.objects.create(title="Oude regel", text="x", active=False)
    response = client.get(reverse("inbox:house_rules"))
    assert response.status_code == 200
    assert "Geen bedreigingen" in response.content.decode()
    assert "Oude regel" not in response.content.decode()
    assert client.post(reverse("inbox:house_rules")).status_code == 405


def test_contact_note(coord_client, conversation):
    url = reverse("inbox:contact_note", args=[conversation.pk, conversation.contact_id])
    response = coord_client.post(url, {"text": "Bekende huurder, belt vaak"}, headers=HX)
    assert response.status_code == 200 and "Bekende huurder" in response.content.decode()


def test_bulk_rerenders_rows_that_stay_and_drops_those_that_leave(coord_client, channel, team_a):
    stay, leave = make_rows(channel, 2)
    data = {"action": "priority", "priority": 3, "selected": [f"{stay.pk}:{stay.version}"]}
    html = coord_client.post(reverse("inbox:bulk"), data, headers=HX).content.decode()
    # The row that stays comes back whole, out of band, in a <template> (an <li> parses there).
    assert f'<template><li id="conversation-{stay.pk}"' in html
    assert 'hx-swap-oob="outerHTML"' in html and 'class="badge prio"' in html
    leave.refresh_from_db()
    data = {
        "action": "forward",
        "department": team_a.pk,
        "selected": [f"{leave.pk}:{leave.version}"],
    }
    html = coord_client.post(reverse("inbox:bulk"), data, headers=HX).content.decode()
    assert f'<li id="conversation-{leave.pk}" hx-swap-oob="delete">' in html
    assert "data-row" not in html


def test_filter_selects_follow_teams_and_people_at_once(coord_client, channel, team_a):
    """The inbox's selects are served from a cache of their rendered markup: a new or renamed
    team or a new colleague must still show on the very next page."""
    from django.utils.html import escape

    from routing.models import Department
    from tests.factories import DepartmentFactory, UserFactory
    from webcare import refcache

    page = coord_client.get(reverse("inbox:inbox")).content.decode()
    option = f'<option value="{team_a.pk}">{escape(team_a.name)}</option>'
    assert page.count(option) == 2  # the filter and the bulk action
    Department.objects.filter(pk=team_a.pk).update(name="Onderhoud & herstel")
    DepartmentFactory(name="Wijkbeheer", slug="wijkbeheer")
    newcomer = UserFactory(username="nina", first_name="Nina", last_name="Nieuw")

    refcache.clear()  # an update() sends no signal; the reference copy is not what is tested
    page = coord_client.get(reverse("inbox:inbox")).content.decode()
    assert page.count("Onderhoud &amp; herstel</option>") == 2
    assert page.count("Wijkbeheer</option>") == 2
    assert f'<option value="{newcomer.pk}">Nina Nieuw</option>' in page  # the bulk assignee
    dutch = coord_client.get(reverse("inbox:inbox"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "Alle afdelingen</option>" in dutch and "All departments</option>" in page


def test_reused_rows_follow_the_clock_the_sla_badge_and_the_viewers(
    coord_client, channel, coordinator, staff_a
):
    """Rows are kept as rendered by the process under a key of everything they show: a change
    of the SLA clock alone, the minute, or who else is looking must each show on the next page."""
    import time_machine
    from django.core.cache import cache

    cache.clear()  # no presence left by an earlier run for the same conversation id
    with time_machine.travel("2026-12-07 10:00:30+01:00", tick=False) as clock:
        now = timezone.now()
        row = ConversationFactory(
            channel=channel,
            received_at=now - timedelta(hours=3),
            sla_state="ok",
            sla_due_at=now + timedelta(hours=2),
        )
        page = coord_client.get(reverse("inbox:inbox")).content.decode()
        assert 'data-sla-state="ok"' in page and ">3 h</time>" in page
        assert "due in 2\xa0hours<" in page and 'class="presence"' not in page
        # The clock changes without the row's version (the sweep's conditional UPDATE).
        Conversation.objects.filter(pk=row.pk).update(sla_state="at_risk")
        page = coord_client.get(reverse("inbox:inbox")).content.decode()
        assert 'data-sla-state="at_risk"' in page
        # Five minutes on, the row's age still reads "3 h"; the badge's countdown has moved.
        clock.shift(timedelta(minutes=5))
        page = coord_client.get(reverse("inbox:inbox")).content.decode()
        assert ">3 h</time>" in page and "due in 1\xa0hour, 55\xa0minutes<" in page
        presence.touch(row.pk, staff_a)
        page = coord_client.get(reverse("inbox:inbox")).content.decode()
        assert 'class="presence"' in page
