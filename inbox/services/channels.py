"""Channels: polling (claim, fetch, ingest, health, alerts) and the admin's create/edit.

The Celery tasks in inbox/tasks.py are thin wrappers around dispatch_due_polls
and poll_channel_once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from inbox.channels.base import AuthFailed, ConnectorError, RateLimited
from inbox.models import Channel, ChannelStatus

logger = logging.getLogger(__name__)

# A poll that takes longer than this is presumed dead and its channel may be
# claimed again (the task's time limit is shorter, see inbox/tasks.py).
POLL_LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)
# When a 429 names no reset time.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)


@dataclass(frozen=True)
class PollOutcome:
    status: str  # "ok", "busy", "disabled", "rate_limited", "auth_failed", "failed"
    created: int = 0
    retry_at: datetime | None = None


def dispatch_due_polls(*, now: datetime | None = None) -> list[int]:
    """Ids of enabled channels whose poll is due, each claimed for this dispatcher only.

    next_poll_at is moved forward with a conditional UPDATE on the value we
    read: if two beats race, exactly one wins each channel.
    """
    now = now or timezone.now()
    # Channels in ERROR wait for a person (new credentials); the form resets them.
    due = (
        Channel.objects.filter(enabled=True)
        .exclude(status=ChannelStatus.ERROR)
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .values_list("id", "next_poll_at", "poll_interval_seconds")
    )
    claimed = []
    for channel_id, next_poll_at, interval in due:
        won = Channel.objects.filter(pk=channel_id, next_poll_at=next_poll_at).update(
            next_poll_at=now + timedelta(seconds=max(interval, 1))
        )
        if won:
            claimed.append(channel_id)
    return claimed


def poll_channel_once(*, channel_id: int, now: datetime | None = None) -> PollOutcome:
    """Fetch new messages for one channel and ingest them; record the channel's health.

    Never two at once per channel (a lease claimed by conditional UPDATE). A
    failed fetch changes no cursor: the next poll starts where the last good one ended.
    """
    from inbox.channels.registry import channel_config, get_connector
    from inbox.services.ingest import ingest_messages

    now = now or timezone.now()
    lease = now + POLL_LEASE
    claimed = (
        Channel.objects.filter(pk=channel_id, enabled=True)
        .filter(Q(poll_claimed_until__isnull=True) | Q(poll_claimed_until__lt=now))
        .update(poll_claimed_until=lease, last_poll_started_at=now)
    )
    if not claimed:
        exists = Channel.objects.filter(pk=channel_id, enabled=True).exists()
        return PollOutcome("busy" if exists else "disabled")
    try:
        channel = Channel.objects.get(pk=channel_id)
        try:
            connector = get_connector(channel.kind)
            fetched = connector.fetch(channel_config(channel), dict(channel.cursor or {}))
        except RateLimited as exc:
            retry_at = exc.reset_at or now + DEFAULT_RATE_LIMIT_WAIT
            # Not a failure: the platform asked us to wait. Never sleep in a worker.
            Channel.objects.filter(pk=channel_id).update(
                status=ChannelStatus.RATE_LIMITED,
                rate_limit_reset_at=retry_at,
                next_poll_at=retry_at,
                last_error=str(exc)[:2000],
                last_error_at=now,
            )
            return PollOutcome("rate_limited", retry_at=retry_at)
        except AuthFailed as exc:
            _record_failure(channel, exc, now=now, status=ChannelStatus.ERROR)
            return PollOutcome("auth_failed")
        except ConnectorError as exc:
            retry_at = _record_failure(channel, exc, now=now, status=ChannelStatus.FAILING)
            return PollOutcome("failed", retry_at=retry_at)
        except Exception as exc:  # a connector bug: record it, keep the cursor, let Celery log it
            _record_failure(channel, exc, now=now, status=ChannelStatus.FAILING)
            raise

        result = ingest_messages(channel=channel, messages=fetched.messages, cursor=fetched.cursor)
        Channel.objects.filter(pk=channel_id).update(
            status=ChannelStatus.OK,
            last_success_at=now,
            last_error="",
            consecutive_failures=0,
            rate_limit_reset_at=None,
        )
        return PollOutcome("ok", created=result.created)
    finally:
        # Release only our own lease (a later claimer holds a different value).
        Channel.objects.filter(pk=channel_id, poll_claimed_until=lease).update(
            poll_claimed_until=None
        )


def backoff(*, interval_seconds: int, failures: int) -> timedelta:
    """Exponential: interval x 2^failures, at most MAX_BACKOFF."""
    return min(timedelta(seconds=max(interval_seconds, 1)) * (2 ** min(failures, 16)), MAX_BACKOFF)


def _record_failure(channel: Channel, exc: Exception, *, now: datetime, status: str) -> datetime:
    """Health fields, the next attempt (backed off), and one alert per failure streak."""
    failures = channel.consecutive_failures + 1
    retry_at = now + backoff(interval_seconds=channel.poll_interval_seconds, failures=failures)
    message = f"{type(exc).__name__}: {exc}"[:2000]
    logger.warning("poll of channel %s failed (%s in a row): %s", channel.pk, failures, message)
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(
            status=status,
            last_error=message,
            last_error_at=now,
            consecutive_failures=F("consecutive_failures") + 1,
            next_poll_at=retry_at,
        )
        threshold = settings.CHANNEL_ALERT_AFTER_FAILURES
        if failures >= threshold or status == ChannelStatus.ERROR:
            _alert_admins(channel, message, failures)
    return retry_at


def _alert_admins(channel: Channel, message: str, failures: int) -> None:
    from inbox.services.notifications import notify_users
    from webcare.accounts.models import Role, User

    admins = User.objects.filter(Q(role=Role.ADMIN) | Q(is_superuser=True), is_active=True)
    # One alert per streak: the streak is named by the last success before it.
    streak = channel.last_success_at.isoformat() if channel.last_success_at else "never"
    notify_users(
        users=admins,
        kind="channel_failing",
        text=gettext("Channel %(name)s keeps failing (%(count)s times in a row): %(error)s")
        % {"name": channel.name, "count": failures, "error": message[:300]},
        url=reverse("inbox:channel_edit", args=[channel.pk]),
        dedupe_key=f"channel-failing:{channel.pk}:{streak}",
    )


def save_channel(
    *,
    channel: Channel | None,
    data: dict[str, Any],
    credentials: dict[str, Any] | None,
    acting_user,
) -> Channel:
    """Create or edit a channel. credentials=None keeps the stored ones (write-only field).

    Saving clears an error state: the admin fixed credentials or settings, so
    the channel is polled again right away.
    """
    from inbox.channels.credentials import encrypt_credentials

    if not getattr(acting_user, "is_admin_role", False):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    channel = channel or Channel()
    for name, value in data.items():
        setattr(channel, name, value)
    if credentials is not None:
        channel.credentials_encrypted = encrypt_credentials(credentials)
    channel.status = ChannelStatus.OK
    channel.consecutive_failures = 0
    channel.next_poll_at = None
    channel.save()
    logger.info("channel %s saved by %s", channel.pk, acting_user.pk)
    return channel
