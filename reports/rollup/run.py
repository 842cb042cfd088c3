"""The run: what the beat task and rebuild_rollups call."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from reports.models import (
    ConversationClock,
    CountRollup,
    DurationBin,
    KeywordCount,
    LabelTally,
    RollupWatermark,
    WindowBin,
    WindowCount,
    WindowTotal,
)
from reports.rollup.backlog import snapshot_backlog
from reports.rollup.events import event_batch
from reports.rollup.labels import rebuild_labels
from reports.rollup.messages import Calendars, message_batch
from reports.rollup.metrics import LABELS
from reports.rollup.windows import build_windows, windows_stale

BATCH_SIZE = 5000


def run_rollups(*, batch_size: int | None = None, now: datetime | None = None) -> int:
    """Count everything new since the last run. Returns the number of messages and events read."""
    batch_size = batch_size or BATCH_SIZE
    now = now or timezone.now()
    calendars = Calendars()
    total = 0
    while True:
        done = message_batch(batch_size, now, calendars)
        total += done
        if done < batch_size:
            break
    while True:
        done = event_batch(batch_size)
        total += done
        if done < batch_size:
            break
    if not RollupWatermark.objects.filter(name=LABELS).exists():
        # After a reset, or labels from before the label rollup: count them all once (the
        # batches keep them current from then on; counting one twice changes nothing).
        rebuild_labels()
        RollupWatermark.objects.get_or_create(name=LABELS)
    snapshot_backlog(now=now)
    if windows_stale(now=now):
        build_windows(now=now)
    return total


def reset_rollups() -> None:
    """Forget every rollup (rebuild_rollups counts history again from the first message)."""
    with transaction.atomic():
        for model in (
            CountRollup,
            LabelTally,
            DurationBin,
            KeywordCount,
            ConversationClock,
            RollupWatermark,
            WindowBin,
            WindowTotal,
            WindowCount,
        ):
            model.objects.all().delete()
