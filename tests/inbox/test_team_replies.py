from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from inbox.models import OPEN_STATUSES, Conversation, Flag, Notification, ReplyState
from inbox.selectors import team as team_selectors
from inbox.services import replies as svc
from inbox.services import team as team_svc
from inbox.services.team import ActionRefused
from routing.models import ReviewPolicy
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conv(team_a, channel):
    return ConversationFactory(channel=channel, department=team_a, status="triaged")


def test_queue_shows_only_own_team_sorted_by_due_time(staff_a, staff_b, team_a, team_b, channel):
    now = timezone.now()
    late = ConversationFactory(
        channel=channel, department=team_a, sla_due_at=now + timedelta(hours=5)
    )
    soon = ConversationFactory(
        channel=channel, department=team_a, sla_due_at=now + timedelta(hours=1)
    )
    none = ConversationFactory(
        channel=channel, department=team_a, received_at=now - timedelta(days=1)
    )
    ConversationFactory(channel=channel, department=team_b)
    rows, _ = team_selectors.team_queue_page(staff_a)
    assert [c.pk for c in rows] == [soon.pk, late.pk, none.pk]
    page1, key = team_selectors.team_queue_page(staff_a, size=2)
    page2, _ = team_selectors.team_queue_page(staff_a, size=2, after=key)
    assert [c.pk for c in page1 + page2] == [soon.pk, late.pk, none.pk]
    assert team_selectors.team_queue_page(staff_b)[0][0].department_id == team_b.pk
    with pytest.raises(PermissionDenied):
        team_selectors.get_team_conversation(staff_b, late.pk)


def test_claim_conflict_reassign_and_hand_back(conv, staff_a, lead_a, staff_b):
    team_svc.claim_conversation(conversation=conv, acting_user=staff_a)
    with pytest.raises(ActionRefused):
        team_svc.claim_conversation(conversation=conv, acting_user=lead_a)
    with pytest.raises(PermissionDenied):
        team_svc.claim_conversation(conversation=conv, acting_user=staff_b)
    with pytest.raises(ActionRefused):
        team_svc.reassign_conversation(conversation=conv, assignee=staff_b, acting_user=staff_a)
    team_svc.reassign_conversation(conversation=conv, assignee=lead_a, acting_user=staff_a)
    assert Notification.objects.filter(user=lead_a, kind="assigned").exists()
    conv = team_svc.hand_back_conversation(
        conversation=conv, reason="Geen reparatie", acting_user=lead_a
    )
    assert (conv.department, conv.assignee, conv.status) == (None, None, "triaged")
    assert list(conv.events.values_list("kind", flat=True)) == [
        "claimed",
        "reassigned",
        "handed_back",
    ]


@pytest.mark.parametrize(
    ("policy", "flags", "new_staff", "expected"),
    [
        (ReviewPolicy.ALWAYS, 0, False, True),
        (ReviewPolicy.NEVER, Flag.THREAT, True, False),
        (ReviewPolicy.FLAGGED, Flag.PRESS, False, True),
        (ReviewPolicy.FLAGGED, 0, False, False),
        (ReviewPolicy.NEW_STAFF, 0, True, True),
        (ReviewPolicy.NEW_STAFF, 0, False, False),
    ],
)
def test_review_policy(conv, staff_a, team_a, policy, flags, new_staff, expected):
    team_a.review_policy = policy
    team_a.save()
    conv.flags = flags
    staff_a.is_new_staff = new_staff
    assert svc.review_required(conversation=conv, author=staff_a) is expected


def test_reviewed_replies_only_channel_forces_review(conv, staff_a, team_a):
    team_a.review_policy = ReviewPolicy.NEVER
    conv.channel.reviewed_replies_only = True
    assert svc.review_required(conversation=conv, author=staff_a)


def test_review_send_back_edit_and_approve_keep_every_version(
    conv, staff_a, lead_a, team_a, django_capture_on_commit_callbacks
):
    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    reply = svc.save_draft(conversation=conv, text="Eerste versie", acting_user=staff_a)
    reply = svc.submit_reply(reply=reply, acting_user=staff_a)
    assert reply.state == ReplyState.PENDING_REVIEW
    assert Notification.objects.filter(user=lead_a, kind="review_requested").exists()
    with pytest.raises(ActionRefused):
        svc.approve_reply(reply=reply, acting_user=staff_a)  # not your own
    svc.send_back_reply(reply=reply, comment="Vriendelijker graag", acting_user=lead_a)
    reply = svc.save_draft(
        conversation=conv, text="Tweede versie", acting_user=staff_a, reply=reply
    )
    reply = svc.submit_reply(reply=reply, acting_user=staff_a)
    with django_capture_on_commit_callbacks() as callbacks:
        reply = svc.approve_reply(reply=reply, acting_user=lead_a, text="Tweede versie, aangepast")
    assert reply.state == ReplyState.APPROVED and len(callbacks) == 1  # queued after commit
    assert [(v.reason, v.text) for v in reply.versions.all()] == [
        ("draft", "Eerste versie"),
        ("submit", "Eerste versie"),
        ("sent_back", "Eerste versie"),
        ("draft", "Tweede versie"),
        ("submit", "Tweede versie"),
        ("review_edit", "Tweede versie, aangepast"),
    ]


def test_reply_teams_restrict_who_posts_from_an_account(conv, staff_a, team_b):
    conv.channel.reply_teams.add(team_b)
    with pytest.raises(PermissionDenied):
        svc.save_draft(conversation=conv, text="Hoi", acting_user=staff_a)


def test_too_long_reply_is_refused_unless_split(conv, staff_a, team_a):
    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    reply = svc.save_draft(conversation=conv, text="lang " * 100, acting_user=staff_a)
    with pytest.raises(ActionRefused):
        svc.submit_reply(reply=reply, acting_user=staff_a)
    reply = svc.submit_reply(reply=reply, acting_user=staff_a, split=True)
    assert len(reply.parts) == 2


def test_note_mentions_notify_team_members_only(
    conv, staff_a, lead_a, staff_b, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        note = svc.add_note(
            conversation=conv, text="@lars kijk even mee, @bram ook?", acting_user=staff_a
        )
    assert list(note.mentioned.all()) == [lead_a]  # bram is in another team: not told
    assert Notification.objects.get(kind="mention").user == lead_a
    assert [m.to for m in mailoutbox] == [[lead_a.email]]


def test_auto_close_after_days_without_customer_reply(conv):
    now = timezone.now()
    Conversation.objects.filter(pk=conv.pk).update(
        status="waiting", last_message_at=now - timedelta(days=8)
    )
    fresh = ConversationFactory(channel=conv.channel, status="answered", last_message_at=now)
    assert svc.auto_close_stale(now=now, days=7) == 1
    conv.refresh_from_db()
    fresh.refresh_from_db()
    assert (conv.status, fresh.status) == ("closed", "answered")
    assert conv.events.get().kind == "auto_closed"


def test_workspace_shows_the_latest_replies_and_finds_an_older_draft(
    conv, staff_a, client, django_assert_max_num_queries
):
    """A long conversation shows its latest RECENT_REPLIES replies behind an "earlier" link, and
    the user's own draft still reaches the composer when it is older than those."""
    from inbox.models import Reply

    draft = svc.save_draft(conversation=conv, text="Mijn oude concept", acting_user=staff_a)
    shown = team_selectors.RECENT_REPLIES
    for i in range(shown + 2):
        Reply.objects.create(conversation=conv, author=staff_a, text=f"antwoord {i}", state="sent")
    client.force_login(staff_a)
    url = f"/team/conversations/{conv.pk}/"
    page = client.get(url).content.decode()
    assert f"antwoord {shown + 1}" in page and "antwoord 1<" not in page
    assert "?replies=all#replies-h" in page
    assert f'name="reply" value="{draft.pk}"' in page  # the composer edits the old draft
    everything = client.get(url + "?replies=all").content.decode()
    assert "antwoord 0<" in everything and "?replies=all#replies-h" not in everything
    # Its cost does not grow with the conversation: as many queries with 10 more replies.
    with django_assert_max_num_queries(20) as captured:
        client.get(url)
    before = len(captured)
    for i in range(10):
        Reply.objects.create(conversation=conv, author=staff_a, text=f"nog {i}", state="sent")
    with django_assert_max_num_queries(before):
        client.get(url)


@pytest.mark.postgres  # reads PostgreSQL's plan
def test_a_team_queue_reads_its_first_page_in_order_from_the_index(
    staff_a, team_a, team_b, channel
):
    """conv_team_queue_idx serves one team's queue without reading and sorting every open item,
    on a table where, as in production, most rows have no team or are closed."""
    from django.db import connection

    from inbox.models import Contact

    contact = Contact.objects.create(channel=channel, external_id="c", handle="huurder")
    now = timezone.now()

    def rows(n, **fields):
        return [
            Conversation(
                channel=channel,
                contact=contact,
                thread_key=f"{fields.get('status', 'new')}-{fields.get('department', '')}-{i}",
                snippet="Lekkage",
                received_at=now - timedelta(minutes=i),
                last_message_at=now,
                sla_due_at=now + timedelta(minutes=i % 90),
                **fields,
            )
            for i in range(n)
        ]

    Conversation.objects.bulk_create(
        rows(20000, status="new")  # the shared inbox: no team yet
        + rows(300, status="closed", department=team_a)
        + rows(300, status="triaged", department=team_a)
        + rows(100, status="triaged", department=team_b)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_conversation")
    page, _ = team_selectors.team_queue_page(staff_a)
    assert [r.department_id for r in page] == [team_a.pk] * team_selectors.PAGE_SIZE
    assert [(r.sla_due_at, r.received_at, r.pk) for r in page] == sorted(
        (r.sla_due_at, r.received_at, r.pk) for r in page
    )
    qs = team_selectors.team_conversations(staff_a).filter(status__in=OPEN_STATUSES)
    ids = qs.order_by("sla_due_at", "received_at", "id").values("id")[:51]
    sql, params = ids.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "conv_team_queue_idx" in plan and "Sort" not in plan, plan
