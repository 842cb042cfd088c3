"""Replies through the API: draft, submit (to review or the outbox), approve, state; the same
services as the composer, so the same events and refusals."""

from __future__ import annotations

import pytest

from inbox.models import ConversationEvent, Reply, ReplyState, Status
from routing.models import ReviewPolicy
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conv(channel, team_a):
    team_a.review_policy = ReviewPolicy.NEVER
    team_a.save()
    return ConversationFactory(channel=channel, department=team_a, status=Status.ASSIGNED)


@pytest.fixture
def anna(api_client, token_for, staff_a):
    return api_client(token_for(staff_a, scope="write"))


def post(client, path: str, body: dict | None = None):
    return client.post(path, body or {}, format="json")


def drafts(conv) -> str:
    return f"/api/v1/conversations/{conv.pk}/replies/"


def kinds(conv) -> list[str]:
    return [e.kind for e in ConversationEvent.objects.filter(conversation=conv).order_by("id")]


def test_a_draft_is_created_then_updated(anna, staff_a, conv):
    created = post(anna, drafts(conv), {"text": "Wij sturen een monteur."})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "draft" and body["author"]["id"] == staff_a.pk
    updated = post(anna, drafts(conv), {"text": "Wij sturen morgen een monteur."})
    assert updated.status_code == 200
    assert updated.json()["id"] == body["id"]
    reply = Reply.objects.get()
    assert reply.text == "Wij sturen morgen een monteur." and reply.versions.count() == 2
    assert kinds(conv) == ["reply_drafted"]


def test_submit_without_review_queues_it_for_the_outbox_after_commit(
    anna, conv, django_capture_on_commit_callbacks
):
    reply_id = post(anna, drafts(conv), {"text": "Wij komen eraan."}).json()["id"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(anna, f"/api/v1/replies/{reply_id}/submit/")
    assert response.status_code == 200
    assert response.json()["state"] == "queued" and response.json()["url"] is None
    # The send is the outbox task's, published once the transaction commits.
    assert len(callbacks) == 1
    assert Reply.objects.get().state == ReplyState.APPROVED
    assert kinds(conv) == ["reply_drafted", "reply_queued"]


def test_review_then_a_colleague_approves(api_client, token_for, anna, lead_a, conv, team_a):
    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    reply_id = post(anna, drafts(conv), {"text": "Excuses voor het wachten."}).json()["id"]
    submitted = post(anna, f"/api/v1/replies/{reply_id}/submit/")
    assert submitted.json()["state"] == "in_review"
    own = post(anna, f"/api/v1/replies/{reply_id}/approve/")
    assert own.status_code == 403 and "detail" in own.json()
    lars = api_client(token_for(lead_a, scope="write"))
    approved = post(
        lars, f"/api/v1/replies/{reply_id}/approve/", {"text": "Sorry voor het wachten."}
    )
    assert approved.status_code == 200
    body = approved.json()
    assert body["state"] == "queued" and body["reviewer"]["id"] == lead_a.pk
    assert body["text"] == "Sorry voor het wachten."
    assert kinds(conv) == ["reply_drafted", "reply_submitted_for_review", "reply_approved"]


def test_the_state_shows_the_post_once_sent(api_client, token_for, staff_a, staff_b, conv):
    reply = Reply.objects.create(
        conversation=conv,
        author=staff_a,
        text="Opgelost.",
        state=ReplyState.SENT,
        external_url="https://x.com/woonstad/status/1",
    )
    body = api_client(token_for(staff_a)).get(f"/api/v1/replies/{reply.pk}/").json()
    assert body["state"] == "sent" and body["url"] == "https://x.com/woonstad/status/1"
    # Another team sees neither the reply nor that it exists.
    assert api_client(token_for(staff_b)).get(f"/api/v1/replies/{reply.pk}/").status_code == 404


def test_only_the_author_submits(api_client, token_for, coordinator, staff_a, conv):
    reply = Reply.objects.create(conversation=conv, author=staff_a, text="Hallo")
    cora = api_client(token_for(coordinator, scope="write"))
    assert post(cora, f"/api/v1/replies/{reply.pk}/submit/").status_code == 403
    assert Reply.objects.get().state == ReplyState.DRAFT


def test_another_team_cannot_draft_submit_or_approve(api_client, token_for, staff_a, staff_b, conv):
    reply = Reply.objects.create(
        conversation=conv, author=staff_a, text="Hallo", state=ReplyState.PENDING_REVIEW
    )
    bram = api_client(token_for(staff_b, scope="write"))
    assert post(bram, drafts(conv), {"text": "x"}).status_code == 404
    assert post(bram, f"/api/v1/replies/{reply.pk}/submit/").status_code == 404
    assert post(bram, f"/api/v1/replies/{reply.pk}/approve/").status_code == 404
    assert Reply.objects.get().state == ReplyState.PENDING_REVIEW


def test_read_only_tokens_and_managers_cannot_write(api_client, token_for, staff_a, manager, conv):
    reply = Reply.objects.create(conversation=conv, author=staff_a, text="Hallo")
    read_only = api_client(token_for(staff_a, scope="read"))
    for path in (drafts(conv), f"/api/v1/replies/{reply.pk}/submit/"):
        assert post(read_only, path, {"text": "x"}).status_code == 403
    # A manager reads every team's conversations but writes no replies (as in the UI).
    mila = api_client(token_for(manager, scope="write"))
    assert mila.get(f"/api/v1/replies/{reply.pk}/").status_code == 200
    assert post(mila, drafts(conv), {"text": "x"}).status_code == 403
    assert Reply.objects.count() == 1 and Reply.objects.get().state == ReplyState.DRAFT


def test_bad_input_is_a_400(anna, conv):
    assert "text" in post(anna, drafts(conv), {}).json()
    empty = post(anna, drafts(conv), {"text": "   "})
    assert empty.status_code == 400
    assert "after_send" in post(anna, drafts(conv), {"text": "x", "after_send": "later"}).json()
    assert not Reply.objects.exists()


def test_the_detail_lists_the_replies(anna, conv):
    post(anna, drafts(conv), {"text": "Concept"})
    body = anna.get(f"/api/v1/conversations/{conv.pk}/").json()
    assert [(r["state"], r["text"]) for r in body["replies"]] == [("draft", "Concept")]
