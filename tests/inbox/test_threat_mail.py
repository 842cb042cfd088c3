"""The threat e-mail to the security department's mailbox: sent by the task
inbox.mail_threat_escalation once the flag has committed, from templates/emails/, in the site's
language; a broker that is down costs the mail, never the flag."""

import logging

import pytest
from django.db import transaction
from django.utils import translation

from inbox.models import Flag
from inbox.services import triage
from tests.factories import DepartmentFactory, MessageFactory
from tests.faults.test_redis_down import celery_broker, free_port
from webcare.jobs import task_named

pytestmark = pytest.mark.django_db
MAILBOX = "veiligheid@example.org"


@pytest.fixture
def security(db):
    return DepartmentFactory(name="Communicatie", slug="communicatie", escalation_email=MAILBOX)


def to_mailbox(mailoutbox):
    return [m for m in mailoutbox if m.to == [MAILBOX]]


def flag_threat(conversation, coordinator):
    MessageFactory(conversation=conversation)
    return triage.flag_conversation(
        conversation=conversation, flag=Flag.THREAT, acting_user=coordinator, version=1
    )


def test_the_task_mails_after_commit_with_the_template_text(
    conversation,
    coordinator,
    security,
    mailoutbox,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    assert task_named("inbox.mail_threat_escalation")
    with django_capture_on_commit_callbacks() as callbacks:
        flag_threat(conversation, coordinator)
    assert to_mailbox(mailoutbox) == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    [mail] = to_mailbox(mailoutbox)
    assert (
        mail.subject
        == ("[Webcare] Threat flagged by Cora Coördinator: " + conversation.snippet[:200])[:150]
    )
    assert f"Cora Coördinator flagged conversation #{conversation.pk} as a threat." in mail.body
    assert "kept in the conversation's audit trail" in mail.body
    assert conversation.get_absolute_url() in mail.body


def test_the_mail_is_in_the_sites_language_not_the_flaggers(
    conversation,
    coordinator,
    security,
    mailoutbox,
    eager_celery,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.LANGUAGE_CODE = "nl"
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        flag_threat(conversation, coordinator)
    [mail] = to_mailbox(mailoutbox)
    assert mail.subject.startswith("[Webcare] Bedreiging gemarkeerd door Cora Coördinator: ")
    assert f"Cora Coördinator heeft gesprek #{conversation.pk} gemarkeerd als bedreiging." in (
        mail.body
    )
    assert "aangifte bij de politie" in mail.body


def test_a_rolled_back_flag_mails_nobody(
    conversation,
    coordinator,
    security,
    mailoutbox,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                flag_threat(conversation, coordinator)
                raise RuntimeError("the request failed after the flag")
        except RuntimeError:
            pass
    assert to_mailbox(mailoutbox) == []
    conversation.refresh_from_db()
    assert not conversation.flags & Flag.THREAT


def test_a_broker_outage_costs_the_mail_not_the_flag(
    conversation, coordinator, security, mailoutbox, caplog, django_capture_on_commit_callbacks
):
    # Nothing listens on this port: publishing fails as with a broker that is down.
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with (
        celery_broker(dead),
        caplog.at_level(logging.ERROR),
        django_capture_on_commit_callbacks(execute=True),
    ):
        flag_threat(conversation, coordinator)
    conversation.refresh_from_db()
    assert conversation.flags & Flag.THREAT
    assert to_mailbox(mailoutbox) == []
    assert "inbox.mail_threat_escalation not queued after commit" in caplog.text
