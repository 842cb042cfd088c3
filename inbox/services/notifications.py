"""Notify people in the app and by e-mail. E-mail leaves only after the transaction commits."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction

from inbox.models import Conversation, Notification


def notify_users(
    *,
    users: Iterable,
    kind: str,
    text: str,
    url: str = "",
    conversation: Conversation | None = None,
    dedupe_key: str = "",
    email: bool = True,
) -> list[Notification]:
    """Create one notification per user (at most once per dedupe_key) and e-mail them after commit."""
    created: list[Notification] = []
    for user in {u.pk: u for u in users}.values():
        if dedupe_key:
            note, was_created = Notification.objects.get_or_create(
                user=user,
                dedupe_key=dedupe_key,
                defaults={
                    "kind": kind,
                    "text": text[:500],
                    "url": url,
                    "conversation": conversation,
                },
            )
            if not was_created:
                continue
        else:
            note = Notification.objects.create(
                user=user, kind=kind, text=text[:500], url=url, conversation=conversation
            )
        created.append(note)
    if email:
        mails = [
            (
                f"[Webcare] {n.text[:80]}",
                f"{n.text}\n\n{n.url}",
                settings.DEFAULT_FROM_EMAIL,
                [n.user.email],
            )
            for n in created
            if n.user.email
        ]
        if mails:
            transaction.on_commit(lambda: send_mass_mail(mails, fail_silently=True))
    return created
