"""The action views read POST data through forms and say no in one way (inbox.views.actions):
bad input gets the field's message and changes nothing; permission comes before the input."""

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from inbox.models import Conversation, ConversationEvent, Note, Reply, Status
from inbox.selectors import team as team_selectors
from inbox.services import triage
from inbox.services.refusals import ActionRefused, ConflictError
from inbox.services.team import ActionRefused as TeamActionRefused
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
TOO_LONG = "x" * 20001


@pytest.fixture
def conv(team_a, channel):
    return ConversationFactory(channel=channel, department=team_a, status=Status.TRIAGED)


@pytest.fixture
def staff_client(client, staff_a):
    client.force_login(staff_a)
    return client


def test_one_refusal_type_for_every_service():
    assert TeamActionRefused is ActionRefused and triage.ConflictError is ConflictError
    conflict = ConflictError(1, "Otto")
    assert isinstance(conflict, ActionRefused) and conflict.status == 409
    assert ActionRefused("no").status == 400


def test_the_getter_returns_what_the_user_may_act_on_or_raises(conv, staff_a, staff_b, manager):
    assert team_selectors.get_conversation_to_act_on(staff_a, conv.pk) == conv
    for outsider in (staff_b, manager):  # another team; a manager reads but does not act
        with pytest.raises(PermissionDenied):
            team_selectors.get_conversation_to_act_on(outsider, conv.pk)
    with pytest.raises(Conversation.DoesNotExist):
        team_selectors.get_conversation_to_act_on(staff_a, 0)


def test_a_bad_colleague_is_named_and_changes_nothing(staff_client, conv):
    url = reverse("inbox:team_reassign", args=[conv.pk])
    response = staff_client.post(url, {"assignee": "abc", "version": conv.version}, headers=HX)
    assert response.templates[0].name == "inbox/team_workspace.html"
    assert "Choose a colleague." in response.content.decode()
    response = staff_client.post(url, {"version": conv.version})
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Give to colleague: Choose a colleague."
    ]
    conv.refresh_from_db()
    assert conv.assignee_id is None and conv.version == 1
    assert not ConversationEvent.objects.filter(conversation=conv).exists()


def test_a_bad_version_is_refused_not_ignored(staff_client, conv):
    url = reverse("inbox:team_claim", args=[conv.pk])
    response = staff_client.post(url, {"version": "abc"}, headers=HX)
    assert "Enter a whole number." in response.content.decode()
    conv.refresh_from_db()
    assert conv.assignee_id is None and conv.status == Status.TRIAGED


def test_a_too_long_note_is_refused_whole_not_cut_short(staff_client, conv):
    response = staff_client.post(
        reverse("inbox:note_add", args=[conv.pk]), {"text": TOO_LONG}, headers=HX
    )
    assert "at most 20000 characters" in response.content.decode()
    assert not Note.objects.exists()


def test_a_refused_reply_keeps_what_was_typed(staff_client, conv):
    url = reverse("inbox:reply_save", args=[conv.pk])
    typed = "Beste klant, wij komen morgen langs."
    response = staff_client.post(url, {"text": typed, "after_send": "later"}, headers=HX)
    body = response.content.decode()
    assert "After sending: Select a valid choice." in body
    assert f">{typed}</textarea>" in body
    assert not Reply.objects.exists()
    # The same text with a valid choice is saved as the draft.
    staff_client.post(url, {"text": typed, "after_send": "waiting"}, headers=HX)
    assert Reply.objects.get().text == typed


def test_an_outsider_learns_nothing_from_bad_input(client, staff_b, conv):
    client.force_login(staff_b)
    response = client.post(reverse("inbox:note_add", args=[conv.pk]), {"text": TOO_LONG})
    assert response.status_code == 403
    response = client.post(reverse("inbox:composer_preview", args=[conv.pk]), {"text": TOO_LONG})
    assert response.status_code == 403


def test_a_too_long_preview_says_so(staff_client, conv):
    url = reverse("inbox:composer_preview", args=[conv.pk])
    response = staff_client.post(url, {"text": TOO_LONG}, headers=HX)
    assert response.status_code == 400
    assert "Reply: Ensure this value has at most 20000 characters" in response.content.decode()


def test_bulk_returns_to_the_inbox_filters_only(client, coordinator, channel):
    client.force_login(coordinator)
    row = ConversationFactory(channel=channel)
    data = {"action": "priority", "priority": 3, "selected": [f"{row.pk}:{row.version}"]}
    response = client.post(
        reverse("inbox:bulk"), {**data, "filter_query": "status=all&next=//evil.example&q=lek"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("inbox:inbox") + "?status=all&q=lek"


def test_bulk_refuses_unreadable_filters_and_changes_nothing(client, coordinator, channel):
    client.force_login(coordinator)
    row = ConversationFactory(channel=channel)
    data = {"action": "priority", "priority": 3, "selected": [f"{row.pk}:{row.version}"]}
    response = client.post(reverse("inbox:bulk"), {**data, "filter_query": "x" * 2001}, headers=HX)
    assert response.status_code == 400
    assert "at most 2000 characters" in response.content.decode()
    response = client.post(reverse("inbox:bulk"), {**data, "filter_query": "status"}, headers=HX)
    assert response.status_code == 400
    assert "The list filters could not be read." in response.content.decode()
    row.refresh_from_db()
    assert row.version == 1 and not ConversationEvent.objects.exists()


def test_erasure_needs_the_exact_confirmation(client, admin_user, conversation):
    client.force_login(admin_user)
    contact = conversation.contact
    handle = contact.handle
    url = reverse("inbox:privacy_erase", args=[contact.pk])
    for data in ({}, {"confirm": "yes"}):
        response = client.post(url, data)
        assert response.status_code == 302
        assert [str(m) for m in get_messages(response.wsgi_request)][-1] == (
            "Tick the box to confirm the erasure."
        )
    contact.refresh_from_db()
    assert contact.handle == handle
