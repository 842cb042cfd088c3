"""Label figures: per label and local day of arrival, the conversations that have it now and the
first response time bins of those answered, in CountRollup ("conversations") and DurationBin
(frt_cal, day and month rows) under DimKind.LABEL (dim: the label's id) and DimKind.LABEL_TEAM
(dim: "label id:team id"), each also without orphan starts (metrics.NO_ORPHANS), like the rest.

Unlike the other figures these change after the fact: a label comes and goes at any time. So
reconcile(conversation ids) makes the label rows of those conversations match what they have
now: a LabelTally per (conversation, label) remembers what was counted, the difference between
that and what counts now is added to the rows (negative for a label taken off, or a tally that
was counted before the clock said it is an orphan start), and the tally is replaced. Running it
twice changes nothing, so the callers need not know whether a change was counted already:
- the event batch, for the conversations of the audit events it reads (every way a label comes
  or goes writes one: one by one, in bulk, by a routing rule, through the API; a merge moves the
  arrival time);
- the message batch, for conversations whose clock started (orphan start decided) or that got
  their first response;
- rebuild_labels, for every labelled conversation (rebuild_rollups, after reset_rollups).
Every call runs under the messages watermark's lock, so a message batch and a label change
never count past each other.

The team of a tally is the one the conversation had when its label was first counted, as every
rollup figure is filed under the team at the time it is counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from inbox.models import Conversation, ConversationLabel
from reports import sketch
from reports.models import (
    ConversationClock,
    DimKind,
    DurationMetric,
    Granularity,
    LabelTally,
)
from reports.periods import day_start, local_zone
from reports.rollup.batch import BIN_COLUMNS, COUNT_COLUMNS
from reports.rollup.metrics import MESSAGES, NO_DEPARTMENT, stored_names, watermark
from webcare.db import insert_rows

CHUNK = 2000

# What one tally counts: (start, team dim, kept, bin).
Tally = tuple[datetime, str, bool, int | None]


def _add(
    counts: dict[tuple, int], bins: dict[tuple, int], label_id: int, tally: Tally, sign: int
) -> None:
    start, team, kept, bin_index = tally
    start = start.astimezone(local_zone())
    month = start.replace(day=1)
    dims = ((DimKind.LABEL, str(label_id)), (DimKind.LABEL_TEAM, f"{label_id}:{team}"))
    for name in stored_names("conversations", kept):
        for kind, dim in dims:
            key = (Granularity.DAY, start, name, kind, dim)
            counts[key] = counts.get(key, 0) + sign
    if bin_index is None:
        return
    for name in stored_names(DurationMetric.FRT_CALENDAR, kept):
        for kind, dim in dims:
            for gran, at in ((Granularity.DAY, start), (Granularity.MONTH, month)):
                bin_key = (gran, at, name, kind, dim, bin_index)
                bins[bin_key] = bins.get(bin_key, 0) + sign


def reconcile(conversation_ids: Iterable[int]) -> int:
    """Count the labels of these conversations as they are now. Returns the tallies changed."""
    ids = sorted(set(conversation_ids))
    changed = 0
    for i in range(0, len(ids), CHUNK):
        changed += _reconcile(ids[i : i + CHUNK])
    return changed


def _reconcile(ids: list[int]) -> int:
    with transaction.atomic():
        watermark(MESSAGES)  # serialises with the message batches (and other reconciles)
        links = list(
            ConversationLabel.objects.filter(conversation_id__in_array=ids).values_list(
                "conversation_id", "label_id", "received_at"
            )
        )
        old = {
            (c, lab): (pk, (start, dim, kept, b))
            for pk, c, lab, start, dim, kept, b in LabelTally.objects.filter(
                conversation_id__in_array=ids
            ).values_list("pk", "conversation_id", "label_id", "start", "dim", "kept", "bin")
        }
        if not links and not old:
            return 0
        labelled = sorted({c for c, _lab, _at in links})
        clocks = {
            c: (first_in, first_out, orphan)
            for c, first_in, first_out, orphan in ConversationClock.objects.filter(
                conversation_id__in_array=labelled
            ).values_list(
                "conversation_id", "first_inbound_at", "first_response_at", "orphan_start"
            )
        }
        teams = dict(
            Conversation.objects.filter(id__in_array=labelled).values_list("id", "department_id")
        )
        counts: dict[tuple, int] = {}
        bins: dict[tuple, int] = {}
        stale: list[int] = []
        fresh: list[LabelTally] = []
        for conv_id, label_id, received in links:
            before = old.pop((conv_id, label_id), None)
            clock = clocks.get(conv_id)
            bin_index = None
            if clock is not None and clock[1] is not None:
                bin_index = sketch.bin_of(max((clock[1] - clock[0]).total_seconds(), 0.0))
            team = before[1][1] if before else str(teams.get(conv_id) or NO_DEPARTMENT)
            now: Tally = (day_start(received), team, not (clock and clock[2]), bin_index)
            if before is not None:
                if before[1] == now:
                    continue
                _add(counts, bins, label_id, before[1], -1)
                stale.append(before[0])
            _add(counts, bins, label_id, now, 1)
            fresh.append(
                LabelTally(
                    conversation_id=conv_id,
                    label_id=label_id,
                    start=now[0],
                    dim=team,
                    kept=now[2],
                    bin=bin_index,
                )
            )
        for (_conv_id, label_id), (pk, tally) in old.items():  # labels taken off
            _add(counts, bins, label_id, tally, -1)
            stale.append(pk)
        if stale:
            LabelTally.objects.filter(pk__in_array=stale).delete()
        LabelTally.objects.bulk_create(fresh, batch_size=1000)
        _write(counts, bins)
    return len(fresh) + len(old)


def _write(counts: dict[tuple, int], bins: dict[tuple, int]) -> None:
    """Add the differences: rows are upserted in key order (two reconciles lock them alike)."""
    insert_rows(
        "reports_countrollup",
        COUNT_COLUMNS,
        sorted((*key, n) for key, n in counts.items() if n),
        "ON CONFLICT (dim_kind, granularity, metric, start, dim)"
        " DO UPDATE SET value = reports_countrollup.value + excluded.value",
    )
    insert_rows(
        "reports_durationbin",
        BIN_COLUMNS,
        sorted((*key, n) for key, n in bins.items() if n),
        "ON CONFLICT (dim_kind, granularity, start, metric, dim, bin)"
        " DO UPDATE SET count = reports_durationbin.count + excluded.count",
    )


def rebuild_labels() -> int:
    """Reconcile every labelled conversation (after reset_rollups): keyset over the links."""
    done, after = 0, 0
    while True:
        ids = list(
            ConversationLabel.objects.filter(conversation_id__gt=after)
            .order_by("conversation_id")
            .values_list("conversation_id", flat=True)
            .distinct()[:CHUNK]
        )
        if not ids:
            return done
        done += reconcile(ids)
        after = ids[-1]
