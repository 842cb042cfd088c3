"""The audit log: append-only in PostgreSQL, listed and exported for managers and admins."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from inbox.models import ConversationEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(conversation, coordinator, manager):
    rows = [
        ConversationEvent.objects.create(
            conversation=conversation,
            actor=coordinator if i % 2 else manager,
            kind="forwarded" if i % 3 else "hidden",
            data={"i": i},
        )
        for i in range(120)
    ]
    return rows


def test_update_and_delete_are_refused_by_the_database(events):
    event = events[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ConversationEvent.objects.filter(pk=event.pk).update(kind="tampered")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM inbox_conversationevent WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        event.conversation.delete()  # cascades into the audit log: refused too
    event.refresh_from_db()
    assert event.kind == events[0].kind
    # Appending still works.
    ConversationEvent.objects.create(conversation=event.conversation, kind="note")


def test_it_pages_by_keyset_without_offset(client, manager, events, django_assert_max_num_queries):
    client.force_login(manager)
    client.get(reverse("inbox:audit_log"))  # warm the session
    with django_assert_max_num_queries(8) as captured:
        response = client.get(reverse("inbox:audit_log"))
    assert not any("OFFSET" in q["sql"] for q in captured.captured_queries)
    page1 = response.context["events"]
    assert len(page1) == 50 and page1[0].pk == events[-1].pk
    response = client.get(reverse("inbox:audit_log"), {"before": response.context["next_before"]})
    page2 = response.context["events"]
    assert page2[0].pk == page1[-1].pk - 1
    seen = {e.pk for e in page1} | {e.pk for e in page2}
    response = client.get(reverse("inbox:audit_log"), {"before": response.context["next_before"]})
    assert response.context["next_before"] is None
    seen |= {e.pk for e in response.context["events"]}
    assert seen == {e.pk for e in events}


def test_it_filters_by_actor_kind_and_date(client, admin_user, events, coordinator):
    client.force_login(admin_user)
    response = client.get(reverse("inbox:audit_log"), {"actor": coordinator.pk, "kind": "hidden"})
    rows = response.context["events"]
    assert rows and all(e.actor_id == coordinator.pk and e.kind == "hidden" for e in rows)
    assert len(rows) == len(
        [e for e in events if e.actor_id == coordinator.pk and e.kind == "hidden"]
    )
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client.get(reverse("inbox:audit_log"), {"date_from": tomorrow})
    assert list(response.context["events"]) == []


def test_the_csv_export_streams_everything_and_defuses_formulas(client, manager, conversation):
    ConversationEvent.objects.create(conversation=conversation, kind='=HYPERLINK("x")', data={})
    client.force_login(manager)
    response = client.get(reverse("inbox:audit_export"))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "created_at_utc", "actor", "kind"]
    assert rows[1][3] == '\'=HYPERLINK("x")'


@pytest.mark.parametrize("persona", ["coordinator", "staff_a"])
def test_others_cannot_see_it(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("inbox:audit_log")).status_code == 403
    assert client.get(reverse("inbox:audit_export")).status_code == 403
