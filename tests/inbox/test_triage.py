"""Triage services: each action, the version conflict, the permission check, bulk."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from inbox.models import (
    Conversation,
    ConversationEvent,
    Flag,
    HouseRule,
    NoReplyReason,
    Notification,
    Priority,
    Status,
)
from inbox.services import triage
from tests.factories import ConversationFactory, DepartmentFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def events(conv, kind=None):
    qs = ConversationEvent.objects.filter(conversation=conv)
    return qs.filter(kind=kind) if kind else qs


def test_it_forwards(conversation, coordinator, team_a):
    conv = triage.forward_conversation(
        conversation=conversation,
        department=team_a,
        acting_user=coordinator,
        version=1,
        note="graag",
    )
    conv.refresh_from_db()
    assert (conv.department, conv.status, conv.version) == (team_a, Status.TRIAGED, 2)
    assert events(conv).count() == 1
    assert events(conv, "forwarded").get().data["note"] == "graag"


def test_it_refuses_a_stale_version_and_changes_nothing(conversation, coordinator, team_a, team_b):
    other = UserFactory(username="otto", role="coordinator", first_name="Otto", last_name="Other")
    triage.forward_conversation(
        conversation=conversation, department=team_a, acting_user=other, version=1
    )
    with pytest.raises(triage.ConflictError) as exc:
        triage.forward_conversation(
            conversation=Conversation.objects.get(pk=conversation.pk),
            department=team_b,
            acting_user=coordinator,
            version=1,
        )
    assert "Otto Other changed this conversation in the meantime; reload to see it" in str(
        exc.value
    )
    conversation.refresh_from_db()
    assert conversation.department == team_a and conversation.version == 2
    assert events(conversation).count() == 1


def test_staff_cannot_triage(conversation, staff_a, team_a):
    with pytest.raises(PermissionDenied):
        triage.forward_conversation(
            conversation=conversation, department=team_a, acting_user=staff_a, version=1
        )
    assert events(conversation).count() == 0


def test_it_assigns(conversation, coordinator, staff_a):
    triage.assign_conversation(
        conversation=conversation, assignee=staff_a, acting_user=coordinator, version=1
    )
    conversation.refresh_from_db()
    assert conversation.assignee == staff_a and conversation.status == Status.ASSIGNED
    assert events(conversation, "assigned").count() == 1


def test_no_reply_needed_records_the_reason(conversation, coordinator):
    reason = NoReplyReason.objects.get_or_create(label="Political remark")[0]
    triage.mark_no_reply_needed(
        conversation=conversation, reason=reason, acting_user=coordinator, version=1
    )
    conversation.refresh_from_db()
    assert conversation.status == Status.NO_REPLY_NEEDED
    assert conversation.status_reason == "Political remark"


def test_hide_quotes_the_rule_and_calls_the_platform_after_commit(
    conversation, coordinator, django_capture_on_commit_callbacks, monkeypatch
):
    from webcare.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)
    MessageFactory(conversation=conversation)
    rule = HouseRule.objects.get_or_create(
        title="No threats", defaults={"text": "We remove threats."}
    )[0]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        triage.hide_conversation(
            conversation=conversation, rule=rule, acting_user=coordinator, version=1
        )
    assert len(callbacks) == 1
    conversation.refresh_from_db()
    assert conversation.status == Status.HIDDEN
    hidden = events(conversation, "hidden").get()
    assert hidden.data["rule_text"] == rule.text
    # The platform outcome is recorded by the task as its own system event.
    outcome = events(conversation, "platform_hide").get()
    assert outcome.actor is None and "ok" in outcome.data
    triage.unhide_conversation(conversation=conversation, acting_user=coordinator, version=2)
    conversation.refresh_from_db()
    assert conversation.status == Status.NEW


def test_unhide_needs_a_hidden_conversation(conversation, coordinator):
    with pytest.raises(ValidationError):
        triage.unhide_conversation(conversation=conversation, acting_user=coordinator, version=1)


def test_threat_keeps_evidence_and_notifies_security_at_once(
    conversation, coordinator, mailoutbox, django_capture_on_commit_callbacks, eager_celery
):
    security = DepartmentFactory(
        name="Communicatie", slug="communicatie", escalation_email="veiligheid@example.org"
    )
    spokesperson = UserFactory(username="woordvoerder", role="staff")
    security.memberships.create(user=spokesperson)
    MessageFactory(
        conversation=conversation, text="Ik weet waar je woont", url="https://x.com/a/status/1"
    )
    with django_capture_on_commit_callbacks(execute=True):
        conv = triage.flag_conversation(
            conversation=conversation, flag=Flag.THREAT, acting_user=coordinator, version=1
        )
    assert conv.flags & Flag.THREAT
    conversation.refresh_from_db()
    assert conversation.priority == Priority.URGENT
    event = events(conversation, "flagged").get()
    evidence = event.data["evidence"]["messages"][0]
    assert evidence["text"] == "Ik weet waar je woont"
    assert evidence["url"] == "https://x.com/a/status/1"
    assert evidence["author_handle"] and evidence["created_at"]
    assert Notification.objects.filter(user=spokesperson, kind="threat").count() == 1
    assert {tuple(m.to) for m in mailoutbox} >= {("veiligheid@example.org",), (spokesperson.email,)}


def test_flag_and_unflag_press(conversation, coordinator):
    triage.flag_conversation(
        conversation=conversation, flag=Flag.PRESS, acting_user=coordinator, version=1
    )
    triage.flag_conversation(
        conversation=conversation, flag=Flag.VIP, acting_user=coordinator, version=2
    )
    triage.flag_conversation(
        conversation=conversation, flag=Flag.PRESS, acting_user=coordinator, version=3, on=False
    )
    conversation.refresh_from_db()
    assert conversation.flags == Flag.VIP


def test_set_priority(conversation, coordinator):
    triage.set_priority(
        conversation=conversation, priority=Priority.HIGH, acting_user=coordinator, version=1
    )
    conversation.refresh_from_db()
    assert conversation.priority == Priority.HIGH and conversation.version == 2


def test_merge_moves_messages(coordinator, channel):
    a = ConversationFactory(channel=channel)
    b = ConversationFactory(channel=channel, contact=a.contact)
    MessageFactory(conversation=a)
    MessageFactory(conversation=b)
    MessageFactory(conversation=b)
    triage.merge_conversations(
        target=a, source=b, acting_user=coordinator, target_version=1, source_version=1
    )
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.messages.count() == 3 and b.messages.count() == 0
    assert b.merged_into == a and b.status == Status.CLOSED
    assert events(a, "merged").count() == 1


def test_split_moves_selected_messages_to_a_new_conversation(conversation, coordinator):
    keep = MessageFactory(conversation=conversation, text="eerste")
    move = MessageFactory(conversation=conversation, text="ander onderwerp")
    new = triage.split_conversation(
        conversation=conversation, message_ids=[move.pk], acting_user=coordinator, version=1
    )
    assert list(new.messages.all()) == [move]
    assert list(conversation.messages.all()) == [keep]
    assert new.status == Status.NEW and new.previous == conversation
    with pytest.raises(ValidationError):
        triage.split_conversation(
            conversation=conversation, message_ids=[keep.pk], acting_user=coordinator, version=2
        )


def test_bulk_hide_is_set_based(coordinator, channel, django_assert_max_num_queries):
    convs = ConversationFactory.create_batch(100, channel=channel)
    rule = HouseRule.objects.get_or_create(
        title="No threats", defaults={"text": "We remove threats."}
    )[0]
    items = {c.pk: c.version for c in convs}
    stale = convs[0]
    Conversation.objects.filter(pk=stale.pk).update(version=5)
    # A constant number of statements, not one per row.
    with django_assert_max_num_queries(8):
        result = triage.bulk_triage(action="hide", items=items, acting_user=coordinator, rule=rule)
    assert len(result.done) == 99 and result.skipped == [stale.pk]
    assert Conversation.objects.filter(status=Status.HIDDEN).count() == 99
    assert ConversationEvent.objects.filter(kind="hidden").count() == 99


def test_bulk_refuses_threats_and_outsiders(coordinator, staff_a, conversation):
    with pytest.raises(ValidationError):
        triage.bulk_triage(
            action="flag",
            items={conversation.pk: 1},
            acting_user=coordinator,
            flag=int(Flag.THREAT),
        )
    with pytest.raises(PermissionDenied):
        triage.bulk_triage(
            action="priority", items={conversation.pk: 1}, acting_user=staff_a, priority=2
        )
