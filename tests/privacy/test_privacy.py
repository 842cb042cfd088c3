"""Retention, export and erasure (AVG/GDPR): personal data goes, statistics stay."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.models import Contact, Conversation, ConversationEvent, Message
from inbox.services.privacy import apply_retention, erase_contact, export_contact_data
from inbox.tasks.privacy import apply_retention_task
from tests.factories import ChannelFactory, ContactFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def _thread(channel, contact, when, n=2, text="Bel me op 06-12345678, groet Jan"):
    conv = ConversationFactory(
        channel=channel, contact=contact, received_at=when, snippet=text, message_count=n
    )
    msgs = [
        MessageFactory(
            conversation=conv, text=text, created_at=when + timedelta(minutes=i), raw={"t": text}
        )
        for i in range(n)
    ]
    return conv, msgs


def test_retention_anonymises_old_data_keeps_statistics_and_is_idempotent():
    now = timezone.now()
    channel = ChannelFactory(config={"retention_months": 6})
    old_contact, new_contact = ContactFactory(channel=channel), ContactFactory(channel=channel)
    old_conv, old_msgs = _thread(channel, old_contact, now - timedelta(days=400), n=3)
    new_conv, new_msgs = _thread(channel, new_contact, now - timedelta(days=10))
    # A contact active recently keeps their name even with old threads.
    both_old, _ = _thread(channel, new_contact, now - timedelta(days=300))
    other = ChannelFactory(config={})  # no policy: untouched
    kept_conv, kept_msgs = _thread(other, ContactFactory(channel=other), now - timedelta(days=900))

    result = apply_retention(channel=channel, now=now)
    assert result["messages"] == 5 and result["contacts"] == 1 and result["more"] == 0

    for m in Message.objects.filter(conversation__in=[old_conv, both_old]):
        assert (m.text, m.raw, m.url) == ("", {}, "")
    assert Message.objects.filter(conversation=old_conv).count() == 3  # rows kept
    old_conv.refresh_from_db()
    assert old_conv.snippet == "" and old_conv.message_count == 3
    assert old_conv.received_at == now - timedelta(days=400)  # timestamps kept
    old_contact.refresh_from_db()
    assert old_contact.anonymised_at and old_contact.handle == old_contact.name == ""
    assert old_contact.external_id == f"erased-{old_contact.pk}"
    new_contact.refresh_from_db()
    assert new_contact.anonymised_at is None and new_contact.handle
    assert all(m.text for m in Message.objects.filter(conversation=new_conv))
    assert all(m.text for m in Message.objects.filter(conversation=kept_conv))

    again = apply_retention(channel=channel, now=now)
    assert not any(again.values()), again


def test_retention_works_in_batches(monkeypatch):
    from inbox.services import privacy

    monkeypatch.setattr(privacy, "BATCH_SIZE", 2)
    now = timezone.now()
    channel = ChannelFactory(config={"retention_months": "1"})
    _thread(channel, ContactFactory(channel=channel), now - timedelta(days=90), n=5)
    first = apply_retention(channel=channel, now=now, max_batches=2)
    assert first["messages"] == 4 and first["more"] == 1
    second = apply_retention(channel=channel, now=now, max_batches=2)
    assert second["messages"] == 1 and second["more"] == 0
    assert not Message.objects.exclude(text="").exists()


def test_the_beat_task_applies_every_policy(eager_celery):
    now = timezone.now()
    channel = ChannelFactory(config={"retention_months": 3})
    _thread(channel, ContactFactory(channel=channel), now - timedelta(days=200))
    apply_retention_task()
    assert not Message.objects.exclude(text="").exists()


def test_export_has_everything_and_is_audited(admin_user):
    channel = ChannelFactory()
    contact = ContactFactory(channel=channel, handle="jdevries", name="Jan de Vries")
    conv, msgs = _thread(channel, contact, timezone.now() - timedelta(days=1))
    data = export_contact_data(contact=contact, acting_user=admin_user)
    json.dumps(data)  # serialisable
    assert data["contact"]["handle"] == "jdevries"
    assert [m["id"] for m in data["messages"]] == [m.pk for m in msgs]
    assert data["conversations"][0]["id"] == conv.pk
    event = ConversationEvent.objects.get(kind="privacy_export")
    assert event.actor == admin_user and event.data["contact"] == contact.pk


def test_erasure_removes_the_person_and_texts_and_is_audited(admin_user):
    channel = ChannelFactory()
    contact = ContactFactory(channel=channel, handle="jdevries", name="Jan de Vries")
    conv, msgs = _thread(channel, contact, timezone.now() - timedelta(days=1))
    reply = MessageFactory(conversation=conv, contact=None, direction="out", text="Hoi Jan!")
    result = erase_contact(contact=contact, acting_user=admin_user)
    assert result == {"messages": 3, "conversations": 1}
    contact.refresh_from_db()
    assert contact.anonymised_at and contact.handle == "" and contact.name == ""
    reply.refresh_from_db()
    assert reply.text == ""
    assert Message.objects.filter(conversation=conv).count() == 3
    assert Conversation.objects.get(pk=conv.pk).snippet == ""
    assert ConversationEvent.objects.filter(kind="privacy_erasure", actor=admin_user).count() == 1


def test_services_refuse_non_admins(manager):
    contact = ContactFactory()
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        erase_contact(contact=contact, acting_user=manager)
    with pytest.raises(PermissionDenied):
        export_contact_data(contact=contact, acting_user=manager)


def test_the_views_are_admin_only_and_work(client, admin_user, manager):
    channel = ChannelFactory()
    contact = ContactFactory(channel=channel, handle="jdevries")
    _thread(channel, contact, timezone.now())
    client.force_login(manager)
    assert client.get(reverse("inbox:privacy_contacts")).status_code == 403
    assert (
        client.post(
            reverse("inbox:privacy_erase", args=[contact.pk]), {"confirm": "erase"}
        ).status_code
        == 403
    )

    client.force_login(admin_user)
    response = client.get(reverse("inbox:privacy_contacts"), {"q": "@JDeVries"})
    assert list(response.context["contacts"]) == [contact]
    assert client.get(reverse("inbox:privacy_contact", args=[contact.pk])).status_code == 200
    assert client.get(reverse("inbox:privacy_export", args=[contact.pk])).status_code == 405
    response = client.post(reverse("inbox:privacy_export", args=[contact.pk]))
    assert response["Content-Disposition"].startswith("attachment")
    assert json.loads(response.content)["contact"]["handle"] == "jdevries"
    # Without the confirmation nothing happens.
    client.post(reverse("inbox:privacy_erase", args=[contact.pk]))
    assert Contact.objects.get(pk=contact.pk).handle == "jdevries"
    response = client.post(reverse("inbox:privacy_erase", args=[contact.pk]), {"confirm": "erase"})
    assert response.status_code == 302
    assert Contact.objects.get(pk=contact.pk).handle == ""
