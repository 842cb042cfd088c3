"""Rollups the dashboards read instead of the messages table.

Counters and duration histograms are kept per period (an hour, a local day or a
local month) and per one dimension at a time (everything, a channel, a
department, an agent or a language), so a 365-day dashboard reads a few
thousand rows. Durations are stored as sketch bins (reports/sketch.py): any
range of periods merges with one SUM ... GROUP BY bin, within 0.5% of exact.

Conversation figures (response and resolution times, SLA, answered conversations, replies) are
kept twice: under their metric for every conversation, and under the metric with the suffix
reports.rollup.metrics.NO_ORPHANS for the conversations that did not start with a reply to a
message the inbox never had (ConversationClock.orphan_start). The dashboard's "leave those out" filter reads
the second set, so it costs no more than the plain figures.

The rollup tables are written only by reports/rollup/ (the beat task and the
rebuild command); nothing else changes them. The crisis clusters at the end are written by
reports/crisis/ (the clustering task and the coordinators' cluster actions).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from webcare.db import CoveringUniqueConstraint


class Granularity(models.TextChoices):
    HOUR = "h", _("hour")
    DAY = "d", _("day")
    MONTH = "m", _("month")


class DimKind(models.TextChoices):
    ALL = "all", _("Everything")
    CHANNEL = "channel", _("Channel")
    DEPARTMENT = "department", _("Department")
    AGENT = "agent", _("Agent")
    LANGUAGE = "language", _("Language")
    # Label figures (reports.rollup.labels), dim: the label's id; for a team, "label id:team id".
    # Adjusted when labels come and go, so never pre-merged into the windows.
    LABEL = "label", _("Label")
    LABEL_TEAM = "labelteam", _("Label in a team")
    # The conversation's visibility, dim "public" or "private" (Conversation.is_public: a
    # private chat opened from a public mention counts as private, the mention as public); for a
    # team, "public:team id" (the team lead's "Public and private" panel).
    VISIBILITY = "visibility", _("Public or private")
    VISIBILITY_TEAM = "visteam", _("Public or private in a team")


# Kept out of the pre-merged windows (their past days change whenever a label does).
LABEL_KINDS = (DimKind.LABEL, DimKind.LABEL_TEAM)


class DurationMetric(models.TextChoices):
    FRT_CALENDAR = "frt_cal", _("First response time (calendar time)")
    FRT_BUSINESS = "frt_bus", _("First response time (business time)")
    NRT_CALENDAR = "nrt_cal", _("Next response time (calendar time)")
    RESOLUTION_CALENDAR = "res_cal", _("Resolution time (calendar time)")


class RollupWatermark(models.Model):
    """How far the rollup task got in an append-only table (messages, audit events).

    Locked with SELECT ... FOR UPDATE for the whole run, so two workers never count a row twice.
    """

    name = models.CharField(max_length=40, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}@{self.last_id}"


class ConversationClock(models.Model):
    """What the rollup task remembers per conversation to tell first from next responses."""

    conversation = models.OneToOneField(
        "inbox.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    first_inbound_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    # The oldest customer message still waiting for an answer (None: nothing waits).
    awaiting_since = models.DateTimeField(null=True, blank=True)
    responses = models.PositiveIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The conversation's first message replies to a message the inbox did not have before it
    # (a sample, or a channel connected mid-thread): its clock starts in the middle of a
    # conversation. Decided once, when the clock starts (reports.rollup.messages._orphan_starts).
    orphan_start = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"clock of #{self.conversation_id}"


class CountRollup(models.Model):
    """A counter (messages in, responses, sentiment, flags, SLA met...) per period and dimension."""

    granularity = models.CharField(max_length=1, choices=Granularity.choices)
    start = models.DateTimeField()  # start of the hour (UTC) or of the local day
    metric = models.CharField(max_length=24)
    dim_kind = models.CharField(max_length=10, choices=DimKind.choices)
    dim = models.CharField(max_length=32, blank=True, default="")
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dim_kind", "granularity", "metric", "start", "dim"],
                name="countrollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.dim_kind}={self.dim} @{self.start}: {self.value}"


class DurationBin(models.Model):
    """How many durations of one metric fell in one sketch bin, per local day or month and dimension."""

    granularity = models.CharField(max_length=1, choices=Granularity.choices)
    start = models.DateTimeField()  # local midnight that starts the day or the month
    metric = models.CharField(max_length=8, choices=DurationMetric.choices)
    dim_kind = models.CharField(max_length=10, choices=DimKind.choices)
    dim = models.CharField(max_length=32, blank=True, default="")
    bin = models.IntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Uses index: percentile reads filter dim_kind, granularity and a start range; count
            # is included so today's rows (merged live into the windows) come from an
            # index-only scan.
            CoveringUniqueConstraint(
                fields=["dim_kind", "granularity", "start", "metric", "dim", "bin"],
                include=["count"],
                name="durationbin_key",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.metric} {self.dim_kind}={self.dim} @{self.start} bin {self.bin}: {self.count}"
        )


class LabelTally(models.Model):
    """What the label rollup counted for one label on one conversation (reports.rollup.labels).

    The label rows of CountRollup and DurationBin are the sums of these: a change is applied as
    "take off what was counted, add what counts now", so counting again changes nothing and a
    label taken off subtracts exactly what it added. Plain ids, no foreign keys: the tallies
    are the rollup's memory, reset and rebuilt with it.
    """

    conversation_id = models.BigIntegerField()
    label_id = models.BigIntegerField()
    start = models.DateTimeField()  # local midnight of the day the conversation arrived
    # The team the conversation had when the label was first counted ("0": none yet).
    dim = models.CharField(max_length=32)
    # Not an orphan start (or no clock yet): also counted in the figures without orphans.
    kept = models.BooleanField(default=True)
    # Sketch bin of the first response time (calendar); None: not answered yet.
    bin = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation_id", "label_id"], name="labeltally_key")
        ]

    def __str__(self) -> str:
        return f"label {self.label_id} on #{self.conversation_id}"


class BacklogSnapshot(models.Model):
    """Open and overdue conversations at the end of an hour, overall and per department."""

    hour = models.DateTimeField()
    # "" for all conversations, else a department id ("0": no department yet).
    dim = models.CharField(max_length=32, blank=True, default="")
    open = models.PositiveIntegerField(default=0)
    overdue = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "dim"], name="backlog_hour_dim"),
        ]

    def __str__(self) -> str:
        return f"backlog {self.dim or 'all'} @{self.hour}: {self.open}"


class KeywordCount(models.Model):
    """Words of inbound messages per local day (and department), for the top-keywords panel."""

    day = models.DateField()
    # "" for all messages, else a department id ("0": no department yet).
    dim = models.CharField(max_length=32, blank=True, default="")
    word = models.CharField(max_length=40)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "dim", "word"], name="keyword_day_dim_word")
        ]
        indexes = [
            # The top-keywords panel sums a dim over a range of days: an index-only scan.
            models.Index(fields=["dim", "day"], include=["word", "count"], name="keyword_dim_day")
        ]

    def __str__(self) -> str:
        return f"{self.word} {self.day}: {self.count}"


class WindowBin(models.Model):
    """Duration bins pre-merged over the whole days of the standard periods (last 7/30/90/365 days).

    Rebuilt once a day (and when a late message touches a past day) from DurationBin, so the
    dashboards merge one row per dimension and bin plus today's day rows instead of a year of
    month and day rows. part 0: the complete days of the period ending today (today itself is
    added live); part 1: the whole previous period (the comparison).

    cum holds the running count of the group (days, part, dim_kind, metric, dim) up to and
    including this bin, so a percentile is an index probe on cum ("the first bin whose running
    count reaches the rank") instead of a merge of every bin (reports.selectors._window_stats).
    """

    days = models.PositiveSmallIntegerField()
    part = models.PositiveSmallIntegerField()
    end_day = models.DateField()  # the last day merged in
    metric = models.CharField(max_length=8, choices=DurationMetric.choices)
    dim_kind = models.CharField(max_length=10, choices=DimKind.choices)
    dim = models.CharField(max_length=32, blank=True, default="")
    bin = models.IntegerField()
    count = models.BigIntegerField(default=0)
    cum = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["days", "part", "dim_kind", "metric", "dim", "bin"],
                name="windowbin_key",
            )
        ]
        indexes = [
            # Percentile probes: the first row of a group whose cum reaches a rank.
            models.Index(
                fields=["days", "part", "dim_kind", "metric", "dim", "cum"],
                include=["bin"],
                name="windowbin_cum",
            )
        ]

    def __str__(self) -> str:
        return f"{self.days}d/{self.part} {self.metric} {self.dim_kind}={self.dim} bin {self.bin}"


class WindowTotal(models.Model):
    """The number of durations in each WindowBin group (its last cum): one row per dimension."""

    days = models.PositiveSmallIntegerField()
    part = models.PositiveSmallIntegerField()
    metric = models.CharField(max_length=8, choices=DurationMetric.choices)
    dim_kind = models.CharField(max_length=10, choices=DimKind.choices)
    dim = models.CharField(max_length=32, blank=True, default="")
    total = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["days", "part", "dim_kind", "metric", "dim"], name="windowtotal_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.days}d/{self.part} {self.metric} {self.dim_kind}={self.dim}: {self.total}"


class WindowCount(models.Model):
    """Daily counters summed over the whole days of a standard period, like WindowBin (parts too)."""

    days = models.PositiveSmallIntegerField()
    part = models.PositiveSmallIntegerField()
    metric = models.CharField(max_length=24)
    dim_kind = models.CharField(max_length=10, choices=DimKind.choices)
    dim = models.CharField(max_length=32, blank=True, default="")
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["days", "part", "dim_kind", "metric", "dim"], name="windowcount_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.days}d/{self.part} {self.metric} {self.dim_kind}={self.dim}: {self.value}"


class WeeklyReportSent(models.Model):
    """One row per ISO week whose report went out: the Monday e-mail is sent once."""

    week_start = models.DateField(unique=True)
    sent_at = models.DateTimeField(auto_now_add=True)
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("weekly report sent")

    def __str__(self) -> str:
        return str(self.week_start)


# --------------------------------------------------------------------------
# Crisis clusters (reports/crisis/): suggestions, acted on only by a person
# --------------------------------------------------------------------------


class ClusterKind(models.TextChoices):
    NEAR_DUPLICATE = "near", _("Near-identical text")
    TOPIC = "topic", _("Same topic")


class CrisisCluster(models.Model):
    """Mentions of the crisis window grouped as near-identical text or by a spike's keyword.

    Written by the clustering task (reports.crisis.clustering), which only adds members: a
    cluster is a suggestion until a coordinator acts on it (reports.crisis.actions).
    """

    kind = models.CharField(max_length=5, choices=ClusterKind.choices)
    # The text new mentions are compared with (reports.crisis.matching.clean) and its digest.
    match_text = models.TextField(blank=True, default="")
    fingerprint = models.CharField(max_length=40, blank=True, default="")
    keyword = models.CharField(max_length=100, blank=True, default="")
    # The first mention's text as written, shown as the cluster's sample.
    sample = models.TextField(blank=True, default="")
    size = models.PositiveIntegerField(default=0)
    # Grows with every batch of new members: a confirmation names the revision it was shown.
    revision = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["last_at"], name="crisiscluster_last_idx"),
            models.Index(fields=["fingerprint"], name="crisiscluster_fp_idx"),
        ]
        verbose_name = _("crisis cluster")
        verbose_name_plural = _("crisis clusters")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.size})"


class CrisisClusterMember(models.Model):
    """A conversation in a cluster, with how alike its mention was (percent, None for a topic)."""

    cluster = models.ForeignKey(CrisisCluster, on_delete=models.CASCADE, related_name="members")
    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    message_id = models.BigIntegerField()
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    # Taken out by a person before acting: never part of the cluster's action.
    taken_out = models.BooleanField(default=False)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "cluster"], name="crisismember_conversation_key"
            )
        ]
        indexes = [models.Index(fields=["cluster", "id"], name="crisismember_cluster_idx")]
        verbose_name = _("crisis cluster member")
        verbose_name_plural = _("crisis cluster members")

    def __str__(self) -> str:
        return f"{self.cluster_id}:{self.conversation_id}"


class ClusterAction(models.TextChoices):
    ANSWER = "answer", _("Answer all with one reply")
    HIDE = "hide", _("Hide all under a house rule")


class ClusterActionState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")


class CrisisClusterAction(models.Model):
    """The audit record of one cluster action: who, what, on which conversations, and how far.

    items holds {conversation id: version} as the coordinator confirmed them (threats and what
    was taken out already left out); the worker acts on exactly those, skipping any changed since.
    """

    cluster = models.ForeignKey(CrisisCluster, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(max_length=10, choices=ClusterAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True, default="")
    rule = models.ForeignKey(
        "inbox.HouseRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    items = models.JSONField(default=dict)
    threats_kept_out = models.PositiveIntegerField(default=0)
    taken_out = models.PositiveIntegerField(default=0)
    state = models.CharField(
        max_length=10, choices=ClusterActionState.choices, default=ClusterActionState.QUEUED
    )
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("crisis cluster action")
        verbose_name_plural = _("crisis cluster actions")

    def __str__(self) -> str:
        return f"{self.action} on cluster {self.cluster_id} ({self.state})"
