"""Spike detection over the stored messages: counts per channel and per channel keyword."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext as _

from inbox.lib import spikes
from inbox.models import Channel, Direction, Message, SpikeAlert
from inbox.services.notifications import notify_users
from integrations.models import EventType
from integrations.services.events import emit
from webcare.accounts.models import Role, User


def _window_counts(channel: Channel, now: datetime) -> dict[str, tuple[int, list[int]]]:
    """keyword ("" for the whole channel) -> (count now, counts in the history windows).

    One query per channel: conditional counts over the eleven windows, the keywords matched
    case-insensitively in the text.
    # Uses index: msg_channel_created_idx (channel, created_at) for each window's range.
    """
    current, history = spikes.windows(now)
    ranges = [current, *history]
    in_any_window = Q()
    for start, end in ranges:
        in_any_window |= Q(created_at__gt=start, created_at__lte=end)
    keywords = [""] + [k for k in dict.fromkeys(channel.keywords or []) if k and k.strip()]
    aggregates = {}
    for k_index, keyword in enumerate(keywords):
        matches = Q(text__icontains=keyword) if keyword else Q()
        for w_index, (start, end) in enumerate(ranges):
            aggregates[f"k{k_index}_w{w_index}"] = Count(
                "id", filter=matches & Q(created_at__gt=start, created_at__lte=end)
            )
    row = Message.objects.filter(
        in_any_window, channel=channel, direction=Direction.INBOUND
    ).aggregate(**aggregates)
    return {
        keyword: (
            row[f"k{k_index}_w0"],
            [row[f"k{k_index}_w{w}"] for w in range(1, len(ranges))],
        )
        for k_index, keyword in enumerate(keywords)
    }


def detect_spikes(*, now: datetime) -> list[SpikeAlert]:
    """Record a SpikeAlert for every channel or keyword whose last 15 minutes are a spike, and
    notify coordinators and managers when a spike starts (not again while it goes on).

    Idempotent: one alert per channel, keyword and quarter hour (unique constraint), and the
    notification carries a dedupe key, so running twice in a window changes nothing.
    """
    window = spikes.window_start(now)
    previous_window = window - spikes.WINDOW
    created: list[SpikeAlert] = []
    for channel in Channel.objects.filter(enabled=True).only("id", "name", "kind", "keywords"):
        for keyword, (count, history) in _window_counts(channel, now).items():
            decision = spikes.decide(count, history)
            if not decision.is_spike:
                continue
            # The alert, its notifications and its webhook event commit together.
            with transaction.atomic():
                alert, was_created = SpikeAlert.objects.get_or_create(
                    channel=channel,
                    keyword=keyword,
                    window_start=window,
                    defaults={"count": count, "baseline": decision.baseline},
                )
                if not was_created:
                    continue
                created.append(alert)
                ongoing = SpikeAlert.objects.filter(
                    channel=channel, keyword=keyword, window_start=previous_window
                ).exists()
                if not ongoing:
                    _notify(alert)
                    _emit(alert, now)
    return created


def _emit(alert: SpikeAlert, now: datetime) -> None:
    """A spike's start for the webhooks (like the notification: not again while it goes on)."""
    emit(
        EventType.SPIKE_ALERT,
        {
            "alert_id": alert.pk,
            "channel_id": alert.channel_id,
            "channel_kind": alert.channel.kind,
            "keyword": alert.keyword,
            "count": alert.count,
            "baseline": alert.baseline,
            "window_start": alert.window_start.isoformat(),
            "url_path": reverse("inbox:spike-alerts"),
        },
        occurred_at=now,
    )


def _notify(alert: SpikeAlert) -> None:
    if alert.keyword:
        text = _(
            "Spike on %(channel)s for “%(keyword)s”: %(count)d messages in 15 minutes (usually %(baseline)s)."
        )
    else:
        text = _("Spike on %(channel)s: %(count)d messages in 15 minutes (usually %(baseline)s).")
    text = text % {
        "channel": alert.channel.name,
        "keyword": alert.keyword,
        "count": alert.count,
        "baseline": f"{alert.baseline:g}",
    }
    notify_users(
        users=User.objects.filter(is_active=True, role__in=[Role.COORDINATOR, Role.MANAGER]),
        kind="spike",
        text=text,
        url=reverse("inbox:spike-alerts"),
        dedupe_key=f"spike:{alert.channel_id}:{alert.keyword}:{alert.window_start.isoformat()}",
    )
