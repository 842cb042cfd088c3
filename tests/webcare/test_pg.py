"""webcare.pg.fetch_instances: what ingest's hot paths read instead of the ORM."""

import pytest

from inbox.models import Contact, Conversation
from tests.factories import ConversationFactory
from webcare.pg import fetch_instances

# fetch_instances is the PostgreSQL path (SQLite takes the ORM's).
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_instances_equal_the_orm_whatever_the_order_of_the_names(channel, team_a):
    made = [
        ConversationFactory(channel=channel, department=team_a if i % 2 else None, flags=i)
        for i in range(4)
    ]
    # Names deliberately out of the model's field order (from_db wants the model's order).
    names = ("flags", "received_at", "id", "department_id", "status", "thread_key")
    got = fetch_instances(
        Conversation,
        names,
        "channel_id = %s AND id = ANY(%s) ORDER BY id",
        [channel.pk, [c.pk for c in made]],
    )
    orm = list(Conversation.objects.filter(pk__in=[c.pk for c in made]).only(*names).order_by("id"))
    assert [tuple(getattr(c, n) for n in names) for c in got] == [
        tuple(getattr(c, n) for n in names) for c in orm
    ]
    assert got[1].department_id == team_a.pk and got[0].department_id is None
    # A field not asked for is deferred, as with .only(): reading it costs a query.
    assert "snippet" in got[0].get_deferred_fields()


def test_fields_that_need_django_loading_are_refused(channel):
    with pytest.raises(ValueError, match="tags"):
        fetch_instances(Contact, ("id", "tags"), "channel_id = %s", [channel.pk])
