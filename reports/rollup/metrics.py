"""The names the rollups store figures and progress under, which the selectors read back."""

from __future__ import annotations

from functools import lru_cache

from reports.models import DimKind, DurationMetric, RollupWatermark

NO_DEPARTMENT = "0"
MESSAGES = "messages"
EVENTS = "events"
LABELS = "labels"  # present once every labelled conversation was counted (reports.rollup.labels)
WINDOWS = "windows"  # last_id: the ordinal of the last day merged into WindowBin

# The conversation figures, each also counted without the conversations that started with a reply
# to a message the inbox did not have, under the metric + NO_ORPHANS ("frt_cal" -> "frt_calx";
# a duration metric's column holds 8 characters).
NO_ORPHANS = "x"
SPLIT_METRICS = frozenset(
    [
        *DurationMetric.values,
        "conversations",
        "responses",
        "frt_due",
        "frt_met",
        "nrt_due",
        "nrt_met",
        "resolved",
        "res_due",
        "res_met",
    ]
)
# Conversations whose first message replied to a message the inbox did not have, by the day
# their clock started (like "conversations"): what the filter leaves out.
ORPHAN_CONVERSATIONS = "orphan_conversations"


def metric_without_orphans(metric: str) -> str:
    """The stored name of a figure counted without the orphan-start conversations."""
    return metric + NO_ORPHANS if metric in SPLIT_METRICS else metric


@lru_cache(maxsize=256)
def stored_names(metric: str, kept: bool) -> tuple[str, ...]:
    """The metrics one count goes to: its own, and when its conversation is kept by the orphan
    filter, the one without orphans (figures of messages have no such twin)."""
    twin = metric_without_orphans(metric)
    return (metric, twin) if kept and twin != metric else (metric,)


PUBLIC = "public"
PRIVATE = "private"


def visibility_dims(public: bool, dept: str) -> tuple[tuple[str, str], ...]:
    """The visibility dimensions of a conversation's figures: overall and within its team.

    The conversation's own visibility (Conversation.is_public), not its messages': a first
    response belongs to the conversation it answers, and a private chat opened from a public
    mention is a conversation of its own.
    """
    vis = PUBLIC if public else PRIVATE
    return ((DimKind.VISIBILITY, vis), (DimKind.VISIBILITY_TEAM, f"{vis}:{dept}"))


def watermark(name: str) -> RollupWatermark:
    RollupWatermark.objects.get_or_create(name=name)
    return RollupWatermark.objects.select_for_update().get(name=name)
