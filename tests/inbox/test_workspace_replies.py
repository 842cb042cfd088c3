"""What the conversation page reads (inbox.selectors.team): replies with their versions, the thread
and the notes, each one plain query into values; and what inbox/reply_item.html makes of them."""

from datetime import timedelta

import pytest
from django.template.loader import get_template

from inbox.models import Note, Reply, ReplyState
from inbox.selectors import team as team_selectors
from inbox.services import replies as svc
from routing.models import ReviewPolicy
from tests.factories import ContactFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conv(team_a, channel):
    return ConversationFactory(channel=channel, department=team_a, status="triaged")


@pytest.fixture
def reviewed(conv, staff_a, lead_a, team_a):
    """A reply sent back once, then approved with an edit: six versions, two editors."""
    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    reply = svc.save_draft(conversation=conv, text="Eerste versie", acting_user=staff_a)
    reply = svc.submit_reply(reply=reply, acting_user=staff_a)
    svc.send_back_reply(reply=reply, comment="Vriendelijker graag", acting_user=lead_a)
    reply = svc.save_draft(
        conversation=conv, text="Tweede versie", acting_user=staff_a, reply=reply
    )
    reply = svc.submit_reply(reply=reply, acting_user=staff_a)
    return svc.approve_reply(reply=reply, acting_user=lead_a, text="Tweede <b>versie</b> & meer")


def test_replies_carry_authors_reviewers_and_every_version_in_two_queries(
    conv, reviewed, staff_a, django_assert_num_queries
):
    # The replies with their authors and reviewers, then the versions of all of them.
    with django_assert_num_queries(2):
        (item,), earlier = team_selectors.replies_for(conv, latest=10)
    assert not earlier
    assert (item.pk, item.state, item.text) == (
        reviewed.pk,
        ReplyState.APPROVED,
        "Tweede <b>versie</b> & meer",
    )
    assert (item.author, item.reviewer, item.author_id) == (
        "Anna de Vries",
        "Lars Leider",
        staff_a.pk,
    )
    assert item.get_state_display() == str(ReplyState.APPROVED.label)
    assert [(v.number, v.editor, v.reason) for v in item.versions] == [
        (1, "Anna de Vries", "draft"),
        (2, "Anna de Vries", "submit"),
        (3, "Lars Leider", "sent_back"),
        (4, "Anna de Vries", "draft"),
        (5, "Anna de Vries", "submit"),
        (6, "Lars Leider", "review_edit"),
    ]
    assert item.versions[2].comment == "Vriendelijker graag"
    assert item.parts == ["Tweede <b>versie</b> & meer"]


def test_latest_cuts_oldest_first_and_says_so(conv, staff_a):
    for i in range(4):
        Reply.objects.create(conversation=conv, author=staff_a, text=f"antwoord {i}", state="sent")
    shown, earlier = team_selectors.replies_for(conv, latest=3)
    assert [r.text for r in shown] == ["antwoord 1", "antwoord 2", "antwoord 3"] and earlier
    everything, earlier = team_selectors.replies_for(conv)
    assert [r.text for r in everything] == [f"antwoord {i}" for i in range(4)] and not earlier
    assert everything[0].versions == () and everything[0].reviewer == ""


def test_reply_items_are_escaped_and_name_reviewer_and_versions(conv, reviewed, staff_a, lead_a):
    Reply.objects.create(
        conversation=conv,
        author=staff_a,
        text="<script>alert(1)</script>",
        state="failed",
        last_error="HTTP 503 <upstream>",
    )
    Reply.objects.create(
        conversation=conv,
        author=staff_a,
        text="Concept",
        state="draft",
        review_comment="Graag met naam",
        private=True,
    )
    Reply.objects.create(
        conversation=conv,
        author=lead_a,
        reviewer=staff_a,
        text="Verstuurd",
        state="sent",
        parts=["Deel 1\nregel 2", "Deel 2"],
        external_id="1234",
        external_url="https://x.com/i/web/status/1234?a=1&b=2",
    )
    items, _ = team_selectors.replies_for(conv)
    assert len(items) == 4
    template = get_template("inbox/reply_item.html")
    html = "".join(
        template.render({"reply": item, "can_act": False, "user": staff_a}) for item in items
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Lars Leider" in html and "Vriendelijker graag" in html  # reviewer, version comment


def test_workspace_shows_the_review_trail(conv, reviewed, staff_a, client):
    client.force_login(staff_a)
    page = client.get(f"/team/conversations/{conv.pk}/").content.decode()
    trail = page[page.index('<ol class="versions">') :]
    trail = trail[: trail.index("</ol>")]
    assert trail.count("<li>") == 6
    assert "v6 · Lars Leider · review_edit<br>Tweede &lt;b&gt;versie&lt;/b&gt; &amp; meer" in trail


def test_thread_names_who_wrote_each_message(conv, staff_a, channel):
    quiet = ContactFactory(channel=channel, name="", handle="", external_id="1780")
    MessageFactory(conversation=conv, contact=conv.contact, text="Lekkage <b>keuken</b>")
    MessageFactory(conversation=conv, contact=quiet, text="Zelfde hier", is_public=False)
    MessageFactory(
        conversation=conv, contact=None, direction="out", sent_by=staff_a, text="We komen"
    )
    MessageFactory(
        conversation=conv, contact=None, direction="out", sent_by=None, text="Automatisch"
    )
    thread, earlier = team_selectors.thread_of(conv)
    assert not earlier
    assert [(m.direction, m.contact, m.sent_by, m.is_public) for m in thread] == [
        ("in", conv.contact.name, "", True),
        ("in", "1780", "", False),  # no name, no handle: the platform's id
        ("out", "", "Anna de Vries", True),
        ("out", "", "", True),
    ]
    page = _page(conv, staff_a)
    assert "Lekkage &lt;b&gt;keuken&lt;/b&gt;" in page
    # An outbound message without a colleague is the account's own: the channel's name shows.
    assert f'<p class="msg-author">{channel.name}' in page


def test_a_long_thread_shows_its_latest_messages_and_the_rest_on_request(conv, staff_a, client):
    shown = team_selectors.RECENT_MESSAGES
    for i in range(shown + 5):
        MessageFactory(
            conversation=conv,
            text=f"bericht {i}.",
            created_at=conv.received_at + timedelta(minutes=i),
        )
    thread, earlier = team_selectors.thread_of(conv, latest=shown)
    assert earlier and [m.text for m in thread] == [f"bericht {i}." for i in range(5, shown + 5)]
    client.force_login(staff_a)
    url = f"/team/conversations/{conv.pk}/"
    page = client.get(url).content.decode()
    assert f"bericht {shown + 4}." in page and "bericht 4." not in page
    assert "?messages=all#thread-h" in page
    everything = client.get(url + "?messages=all").content.decode()
    assert "bericht 0." in everything and "?messages=all#thread-h" not in everything


def test_notes_keep_their_text_when_the_author_is_gone(conv, staff_a, team_a):
    from webcare.accounts.models import User

    gone = User.objects.create_user("weg", role="staff", first_name="Wim")
    Note.objects.create(conversation=conv, author=staff_a, text="Monteur gebeld")
    Note.objects.create(conversation=conv, author=gone, text="Foto <i>gevraagd</i>")
    gone.delete()
    notes = team_selectors.notes_for(conv)
    assert [(n.author, n.text) for n in notes] == [
        ("Anna de Vries", "Monteur gebeld"),
        ("", "Foto <i>gevraagd</i>"),
    ]
    page = _page(conv, staff_a)
    assert "Foto &lt;i&gt;gevraagd&lt;/i&gt;" in page and "— · <time" in page


def test_the_page_reads_a_fixed_set_of_queries(
    conv, reviewed, staff_a, client, django_assert_num_queries
):
    """Session user, conversation, the user's teams, the header's unread count, thread,
    replies and their versions, the account's reply teams, notes, the conversation's labels,
    the contact's history: eleven, however long the conversation (the staff page every reply
    starts from)."""
    client.force_login(staff_a)
    client.get(f"/team/conversations/{conv.pk}/")
    with django_assert_num_queries(11):
        assert client.get(f"/team/conversations/{conv.pk}/").status_code == 200


def _page(conv, user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.get(f"/team/conversations/{conv.pk}/").content.decode()
