"""webcare.db, the database seam: each fast path gives what its portable twin gives.

Both legs of CI run these, so each assertion holds on PostgreSQL (the fast form) and on
SQLite (the portable form).
"""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox.models import Contact, Conversation, ConversationEvent, Message
from tests.factories import ConversationFactory, MessageFactory
from webcare import db

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_fetch_instances_equal_the_orm_whatever_the_order_of_the_names(channel, team_a):
    made = [
        ConversationFactory(channel=channel, department=team_a if i % 2 else None, flags=i)
        for i in range(4)
    ]
    # Names deliberately out of the model's field order (from_db wants the model's order).
    names = ("flags", "received_at", "id", "department_id", "status", "thread_key")
    qs = Conversation.objects.filter(pk__in_array=[c.pk for c in made]).order_by("id")
    got = db.fetch_instances(qs, names)
    orm = list(qs.only(*names))
    assert [tuple(getattr(c, n) for n in names) for c in got] == [
        tuple(getattr(c, n) for n in names) for c in orm
    ]
    assert got[1].department_id == team_a.pk and got[0].department_id is None
    # A field not asked for is deferred, as with .only(): reading it costs a query.
    assert "snippet" in got[0].get_deferred_fields()


@pytest.mark.postgres  # the binary read skips Django's converters, so it refuses fields with one
def test_fields_that_need_django_loading_are_refused(channel):
    with pytest.raises(ValueError, match="tags"):
        db.fetch_instances(Contact.objects.filter(channel=channel), ("id", "tags"))


def test_in_array_matches_in_with_one_parameter_and_no_limit(channel):
    messages = [MessageFactory(conversation__channel=channel) for _ in range(3)]
    wanted = [m.external_id for m in messages[:2]] + [f"missing-{i}" for i in range(3000)]
    found = Message.objects.filter(channel=channel, external_id__in_array=wanted)
    with CaptureQueriesContext(connection) as ctx:
        ids = sorted(found.values_list("external_id", flat=True))
    assert ids == sorted(m.external_id for m in messages[:2])
    # One parameter for all 3,002 values (SQLite allows 999 a statement).
    assert ctx.captured_queries[0]["sql"].count("missing-") in (0, 3000)
    assert list(Message.objects.filter(pk__in_array=[])) == []
    assert [m.pk for m in Message.objects.filter(pk__in_array=[messages[2].pk])] == [messages[2].pk]


def test_bulk_insert_skips_existing_keys_and_returns_only_the_new_rows_in_order(channel):
    Contact.objects.create(channel=channel, external_id="old", handle="old")
    returned = db.bulk_insert(
        Contact,
        {
            "channel_id": [channel.pk] * 3,
            "external_id": ["new-b", "old", "new-a"],
            "handle": ["b", "changed", "a"],
        },
        now=NOW,
        conflict_target=("channel_id", "external_id"),
        returning=("id", "external_id"),
    )
    assert [ext for _id, ext in returned] == ["new-b", "new-a"]
    assert Contact.objects.get(external_id="old").handle == "old"  # skipped, not updated
    by_ext = dict(Contact.objects.values_list("external_id", "id"))
    assert [pk for pk, _ext in returned] == [by_ext["new-b"], by_ext["new-a"]]


@time_machine.travel(NOW, tick=False)  # bulk_create stamps auto_now fields with the clock
def test_bulk_insert_stores_json_as_both_databases_can(conversation):
    payload = {"score": float("nan"), "text": "Hallo \ud800", "nul": "a\x00b"}
    db.bulk_insert(
        ConversationEvent,
        {"conversation_id": [conversation.pk], "kind": ["note"], "data": [payload]},
        now=NOW,
    )
    stored = ConversationEvent.objects.get(conversation=conversation).data
    assert stored == {"score": "nan", "text": "Hallo \ufffd", "nul": "ab"}
    assert ConversationEvent.objects.get(conversation=conversation).created_at == NOW


def test_bulk_update_writes_each_row_its_own_values(channel):
    convs = [ConversationFactory(channel=channel, snippet=f"s{i}") for i in range(3)]
    for i, conv in enumerate(convs):
        conv.snippet = f"changed {i}"
        conv.first_response_due_at = NOW.replace(hour=10 + i)
    db.bulk_update(Conversation, convs, ["snippet", "first_response_due_at"])
    assert list(
        Conversation.objects.order_by("id").values_list("snippet", "first_response_due_at")
    ) == [(f"changed {i}", NOW.replace(hour=10 + i)) for i in range(3)]


def test_update_returning_pks_claims_each_row_once(channel):
    convs = [ConversationFactory(channel=channel, sla_state="ok") for _ in range(3)]
    due = Conversation.objects.filter(sla_state="ok", pk__in=[c.pk for c in convs[:2]])
    assert sorted(db.update_returning_pks(due, sla_state="overdue")) == [c.pk for c in convs[:2]]
    assert db.update_returning_pks(due, sla_state="overdue") == []  # nobody claims them twice
    assert Conversation.objects.filter(sla_state="overdue").count() == 2


def test_fetch_rows_equal_the_queryset(channel):
    made = [MessageFactory(conversation__channel=channel) for _ in range(3)]
    qs = Message.objects.filter(pk__in=[m.pk for m in made]).order_by("id")
    rows = qs.values_list("id", "external_id", "created_at", "conversation__channel_id")
    assert db.fetch_rows(rows) == list(rows)
