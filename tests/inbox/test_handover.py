"""Continue privately (inbox/services/handover.py): from a public X mention to the customer's X
direct messages or to the organisation's WhatsApp, linked, with the public notice going through
the normal reply flow. The X API is replayed at the HTTP layer (`responses`, recorded payloads
in tests/fixtures/x/); nothing calls the internet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from inbox.channels.base import IncomingMessage
from inbox.channels.credentials import encrypt_credentials
from inbox.models import (
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    Reply,
    ReplyState,
)
from inbox.selectors import handover as handover_selectors
from inbox.selectors.inbox import contact_history
from inbox.services import handover
from inbox.services.ingest import ingest_messages
from inbox.services.refusals import ActionRefused
from routing.models import ReviewPolicy
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    DepartmentFactory,
    MessageFactory,
)

pytestmark = pytest.mark.django_db

API = "https://api.twitter.com/2"
OUR_ID = "1420339457118097409"
CUSTOMER_ID = "1102938475610293847"
MENTION = "1917854669995126784"
NOTICE_ID = "1917999999999999999"
DM_ID = "1785412345678901234"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WA_NUMBER = "106540352242922"
WA_TEMPLATES = [{"name": "contact_opnemen", "language": "nl", "parameters": 1, "body": "Hoi {{1}}"}]
DUTCH_NOTICE = (
    "We hebben je een privébericht gestuurd, zodat we je kunnen helpen met je persoonlijke "
    "gegevens."
)


def x_channel(**config) -> Channel:
    return ChannelFactory(
        kind="x",
        config={"user_id": OUR_ID, **config},
        credentials_encrypted=encrypt_credentials(
            {
                "consumer_key": "ck",
                "consumer_secret": "cs",
                "access_token": f"{OUR_ID}-at",
                "access_token_secret": "ats",
                "user_id": OUR_ID,
            }
        ),
    )


@pytest.fixture
def mention(team_a, staff_a):
    """A public X mention, claimed by staff A of team A, in Dutch."""
    conv = ConversationFactory(
        channel=x_channel(),
        contact__external_id=CUSTOMER_ID,
        contact__handle="jdevries",
        contact__name="Jan de Vries",
        department=team_a,
        assignee=staff_a,
        status="assigned",
        language="nl",
        thread_key=MENTION,
    )
    MessageFactory(conversation=conv, external_id=MENTION, text="@woonstad mijn huur klopt niet")
    return conv


@pytest.fixture
def x_api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{API}/tweets", json={"data": {"id": NOTICE_ID, "text": "..."}}, status=201)
        mock.post(
            f"{API}/dm_conversations/with/{CUSTOMER_ID}/messages",
            json=json.loads((FIXTURES / "x" / "dm_create.json").read_text()),
            status=201,
        )
        yield mock


def hand_over(conv, user, **kwargs):
    return handover.continue_privately(
        conversation=conv,
        acting_user=user,
        **{"message": "Hoi Jan, mag ik je huurcontractnummer?", **kwargs},
    )


def test_x_mention_opens_the_dm_thread_for_the_team_and_both_replies_go_through_the_outbox(
    mention, staff_a, team_a, eager_celery, x_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = hand_over(mention, staff_a)
    private = Conversation.objects.get(pk=result.private.pk)
    assert result.created and not result.repeated
    assert (private.channel_id, private.contact_id) == (mention.channel_id, mention.contact_id)
    assert private.thread_key == f"dm:{CUSTOMER_ID}" and not private.is_public
    assert (private.department, private.assignee, private.status) == (team_a, staff_a, "answered")
    mention.refresh_from_db()
    assert mention.continued_in_id == private.pk

    # The DM and the public notice went out once each, through the outbox, after commit.
    posts = [c for c in x_api.calls if c.request.method == "POST"]
    assert sorted(c.request.url for c in posts) == [
        f"{API}/dm_conversations/with/{CUSTOMER_ID}/messages",
        f"{API}/tweets",
    ]
    dm = Reply.objects.get(conversation=private)
    notice = Reply.objects.get(conversation=mention)
    assert (dm.state, dm.private, dm.external_id) == (ReplyState.SENT, True, DM_ID)
    assert (notice.state, notice.private, notice.external_id) == (ReplyState.SENT, False, NOTICE_ID)
    # In the conversation's language (Dutch), replying to the mention.
    tweet = json.loads(next(c for c in posts if c.request.url.endswith("/tweets")).request.body)
    assert tweet["text"] == DUTCH_NOTICE
    assert tweet["reply"]["in_reply_to_tweet_id"] == MENTION
    assert Message.objects.get(conversation=private).is_public is False

    # One audit event for the action, on the public conversation.
    events = ConversationEvent.objects.filter(kind="continued_privately")
    assert [(e.conversation_id, e.actor_id, e.data["private"]) for e in events] == [
        (mention.pk, staff_a.pk, private.pk)
    ]


def test_clicked_twice_hands_over_once(mention, staff_a):
    first = hand_over(mention, staff_a)
    counts = (
        Reply.objects.count(),
        ConversationEvent.objects.count(),
        Conversation.objects.count(),
    )
    again = hand_over(mention, staff_a, message="Nog een keer")
    assert again.repeated and again.private.pk == first.private.pk
    after = (Reply.objects.count(), ConversationEvent.objects.count(), Conversation.objects.count())
    assert after == counts


def test_an_open_dm_conversation_with_the_customer_is_linked_not_duplicated(mention, staff_a):
    existing = ConversationFactory(
        channel=mention.channel,
        contact=mention.contact,
        thread_key=f"dm:{CUSTOMER_ID}",
        is_public=False,
    )
    result = hand_over(mention, staff_a)
    assert not result.created and result.private.pk == existing.pk
    existing.refresh_from_db()
    # It had no team: it gets the one that handed over, so they see the answer.
    assert (existing.department_id, existing.assignee_id) == (
        mention.department_id,
        mention.assignee_id,
    )
    assert Conversation.objects.filter(thread_key=f"dm:{CUSTOMER_ID}").count() == 1


def test_a_closed_dm_conversation_is_followed_up_by_a_new_one(mention, staff_a):
    old = ConversationFactory(
        channel=mention.channel,
        contact=mention.contact,
        thread_key=f"dm:{CUSTOMER_ID}",
        is_public=False,
        status="closed",
        closed_at=timezone.now() - timedelta(days=30),
    )
    result = hand_over(mention, staff_a, submit=False)
    assert result.created and result.private.previous_id == old.pk


def test_only_who_may_reply_may_hand_over(mention, staff_b, manager, team_a):
    for user in (staff_b, manager):
        with pytest.raises(PermissionDenied):
            hand_over(mention, user)
    # A channel reserved for another team's replies: refused too.
    mention.channel.reply_teams.set([DepartmentFactory()])
    with pytest.raises(PermissionDenied):
        hand_over(mention, mention.assignee)
    assert not Conversation.objects.filter(is_public=False).exists()
    assert not Reply.objects.exists()


def test_review_rules_hold_both_replies(mention, staff_a, team_a, x_api):
    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    result = hand_over(mention, staff_a)
    states = set(Reply.objects.values_list("state", flat=True))
    assert states == {ReplyState.PENDING_REVIEW}
    assert Reply.objects.filter(conversation=result.private).count() == 1
    assert len(x_api.calls) == 0


def test_drafts_only_when_asked(mention, staff_a):
    hand_over(mention, staff_a, submit=False, notice="Zie je DM!")
    assert sorted(Reply.objects.values_list("state", "text")) == [
        (ReplyState.DRAFT, "Hoi Jan, mag ik je huurcontractnummer?"),
        (ReplyState.DRAFT, "Zie je DM!"),
    ]


def test_refusals_write_nothing(mention, staff_a):
    with pytest.raises(ActionRefused, match="private message"):
        hand_over(mention, staff_a, message="  ")
    Conversation.objects.filter(pk=mention.pk).update(status="closed", closed_at=timezone.now())
    mention.refresh_from_db()
    with pytest.raises(ActionRefused, match="closed"):
        hand_over(mention, staff_a)
    assert not Conversation.objects.filter(is_public=False).exists()
    assert not ConversationEvent.objects.filter(kind="continued_privately").exists()


def test_a_later_dm_from_the_customer_lands_in_the_private_conversation(mention, staff_a):
    private = hand_over(mention, staff_a, submit=False).private
    ingest_messages(
        channel=mention.channel,
        messages=[
            IncomingMessage(
                external_id="1785499999999999999",
                text="Mijn contractnummer is 12345",
                created_at=datetime.now(UTC),
                author_id=CUSTOMER_ID,
                author_handle="jdevries",
                conversation_external_id=f"dm:{CUSTOMER_ID}",
                is_public=False,
            )
        ],
    )
    message = Message.objects.get(external_id="1785499999999999999")
    assert message.conversation_id == private.pk
    private.refresh_from_db()
    # Still with the agent who handed over: not back in the shared inbox as "new".
    assert (private.status, private.assignee_id) == ("assigned", staff_a.pk)
    assert private.last_inbound_at is not None
    assert Conversation.objects.filter(thread_key=f"dm:{CUSTOMER_ID}").count() == 1


# --- WhatsApp -----------------------------------------------------------------------------------


@pytest.fixture
def whatsapp():
    return Channel.objects.create(
        kind="whatsapp",
        name="WhatsApp Klantenservice",
        config={"phone_number_id": WA_NUMBER, "templates": WA_TEMPLATES},
    )


def test_to_whatsapp_needs_a_valid_number_and_a_template(mention, staff_a, whatsapp):
    kwargs = {"target": handover.WHATSAPP, "whatsapp_channel": whatsapp}
    with pytest.raises(ActionRefused, match="international form"):
        hand_over(
            mention,
            staff_a,
            phone="06-12345678",
            template=("contact_opnemen:nl", ["Jan"]),
            **kwargs,
        )
    with pytest.raises(ActionRefused, match="template"):
        hand_over(mention, staff_a, phone="+31 6 1234 5678", **kwargs)
    result = hand_over(
        mention,
        staff_a,
        phone="+31 6 1234 5678",
        template=("contact_opnemen:nl", ["Jan"]),
        submit=False,
        **kwargs,
    )
    private = result.private
    assert private.channel_id == whatsapp.pk
    assert private.thread_key == f"wa:{WA_NUMBER}:31612345678"
    assert Contact.objects.get(pk=private.contact_id).external_id == "31612345678"
    first = Reply.objects.get(conversation=private)
    assert first.template["name"] == "contact_opnemen" and first.text == "Hoi Jan"
    notice = Reply.objects.get(conversation=mention)
    assert notice.text.startswith("We hebben je een WhatsApp-bericht gestuurd")
    # Two contacts (X and WhatsApp), one history: the linked conversations list each other.
    mention.refresh_from_db()
    assert [c.pk for c in contact_history(mention)] == [private.pk]
    assert [c.pk for c in contact_history(private)] == [mention.pk]


def test_phone_numbers_are_read_as_e164():
    assert handover.normalise_phone("0031 (6) 12-34.56.78") == "+31612345678"
    for bad in ("", "0612345678", "+0612345678", "+31 6 1234 5678 9012 34", "+31abc"):
        with pytest.raises(ActionRefused):
            handover.normalise_phone(bad)


def test_not_offered_where_there_is_no_private_path(staff_a, team_a):
    facebook = ConversationFactory(channel=ChannelFactory(kind="facebook"), department=team_a)
    choice = handover_selectors.handover_choice(facebook)
    assert not choice.offered and "no direct messages on Facebook" in choice.why_not
    with pytest.raises(ActionRefused):
        hand_over(facebook, staff_a)


# --- The page ------------------------------------------------------------------------------------


def test_the_action_and_the_page_with_both_threads(client, mention, staff_a, staff_b):
    url = reverse("inbox:team_handover", args=[mention.pk])
    page = reverse("inbox:team_conversation", args=[mention.pk])
    client.force_login(staff_a)
    assert "Continue privately" in client.get(page).content.decode()

    # A refusal keeps what was typed.
    refused = client.post(
        url,
        {"target": "same", "message": "", "notice": "Eigen tekst"},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 200
    body = refused.content.decode()
    assert "Write the private message" in body and "Eigen tekst" in body

    answer = client.post(
        url,
        {"target": "same", "message": "Hoi Jan, je adres?", "action": "draft"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 204 and answer["HX-Redirect"] == page
    private = Conversation.objects.get(is_public=False)
    MessageFactory(conversation=private, text="Voorstraat 12", is_public=False)

    body = client.get(page).content.decode()
    assert f"Continued privately in conversation #{private.pk}" in body
    assert "Voorstraat 12" in body and "mijn huur klopt niet" in body  # one timeline
    other = client.get(reverse("inbox:team_conversation", args=[private.pk])).content.decode()
    assert f"Continued from public conversation #{mention.pk}" in other
    assert "mijn huur klopt niet" in other

    client.force_login(staff_b)
    assert client.post(url, {"target": "same", "message": "x"}).status_code == 403
