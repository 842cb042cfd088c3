"""Channels, contacts, conversations, messages and the audit trail.

A Conversation is one unit of work (a thread); Messages belong to one
conversation; every state change writes one ConversationEvent. State changes
go through inbox/services/, never through these models directly.

Size: one module for the inbox's tables, as Django expects of an app; each model is short
and its choices sit beside it, and a reader follows the relations in one file.
"""

import enum
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox.channels.simulator.platforms import PLATFORMS as SIMULATED_PLATFORMS

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class ChannelKind(models.TextChoices):
    X = "x", "X"
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    RSS = "rss", _("RSS/Atom")
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Signed webhook")
    SIMULATOR = "simulator", _("Simulator")
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM_DIRECT = "instagram_direct", _("Instagram Direct")
    LINKEDIN = "linkedin", "LinkedIn"
    YOUTUBE = "youtube", "YouTube"


class ChannelStatus(models.TextChoices):
    OK = "ok", _("OK")
    RATE_LIMITED = "rate_limited", _("Rate limited")
    FAILING = "failing", _("Failing")
    ERROR = "error", _("Error (needs attention)")


class Channel(models.Model):
    kind = models.CharField(_("kind"), max_length=20, choices=ChannelKind.choices)
    name = models.CharField(_("display name"), max_length=100)
    own_handles = models.JSONField(_("our own account handles"), default=list, blank=True)
    keywords = models.JSONField(_("keywords to monitor"), default=list, blank=True)
    # Fernet token (inbox/crypto.py); never rendered back in the UI.
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    # Non-secret connection settings (instance URL, page id, feed URL, IMAP host...).
    config = models.JSONField(_("settings"), default=dict, blank=True)
    poll_interval_seconds = models.PositiveIntegerField(_("poll interval (seconds)"), default=60)
    enabled = models.BooleanField(_("enabled"), default=True)
    cursor = models.JSONField(default=dict, blank=True, editable=False)
    # Health
    status = models.CharField(
        max_length=20, choices=ChannelStatus.choices, default=ChannelStatus.OK
    )
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_poll_started_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    rate_limit_reset_at = models.DateTimeField(null=True, blank=True)
    # Messages ingested today (local date): a counter bumped in the ingest
    # transaction, so the health page never counts the messages table.
    ingest_day = models.DateField(null=True, blank=True, editable=False)
    ingest_day_count = models.PositiveIntegerField(default=0, editable=False)
    # Messages ingest stored with a step skipped because a policy, routing rule or enrichment
    # failed for them (no SLA clock, not routed, not enriched), and the latest such failure.
    ingest_problem_count = models.PositiveIntegerField(default=0, editable=False)
    last_ingest_problem = models.TextField(blank=True, default="", editable=False)
    last_ingest_problem_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A poll's lease: claimed by a conditional UPDATE so two workers never poll
    # one channel at once; expires by itself if the worker dies.
    poll_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    reply_teams = models.ManyToManyField(
        "routing.Department",
        blank=True,
        related_name="reply_channels",
        verbose_name=_("teams that may reply"),
    )
    reviewed_replies_only = models.BooleanField(
        _("only reviewed replies may be sent"), default=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self) -> str:
        return self.name

    @property
    def ingested_today(self) -> int:
        """Messages stored today: the counter the ingest transaction keeps, no COUNT over the
        messages table."""
        return self.ingest_day_count if self.ingest_day == timezone.localdate() else 0

    @property
    def simulated_platform(self) -> str:
        """The platform a simulator channel plays (its "platform" setting), else ""."""
        config = self.config if isinstance(self.config, dict) else {}
        platform = config.get("platform") if self.kind == ChannelKind.SIMULATOR else ""
        return platform if isinstance(platform, str) and platform in SIMULATED_PLATFORMS else ""

    @property
    def kind_label(self) -> str:
        """The kind as the pages show it: a simulator channel that plays a platform shows as
        that platform, "WhatsApp (simulated)", so the demo's kinds can be told apart."""
        if platform := self.simulated_platform:
            label = SIMULATED_PLATFORMS[platform].label
            return str(_("%(platform)s (simulated)") % {"platform": label})
        return str(self.get_kind_display())


class ContactTag(models.TextChoices):
    TENANT = "tenant", _("Known tenant")
    VIP = "vip", _("VIP")
    PRESS = "press", _("Press")


class Contact(models.Model):
    """One author on one channel."""

    # Indexed by the unique (channel, external_id) below: a second index only slowed ingest.
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    external_id = models.CharField(max_length=255)
    handle = models.CharField(_("handle"), max_length=255, blank=True, default="")
    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    avatar_url = models.URLField(max_length=1000, blank=True, default="")
    profile_url = models.URLField(max_length=1000, blank=True, default="")
    tags = models.JSONField(_("tags"), default=list, blank=True)
    is_blocked = models.BooleanField(_("blocked"), default=False)
    is_fake = models.BooleanField(_("fake account"), default=False)
    is_own_account = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="contact_channel_external_id"
            )
        ]
        indexes = [
            # Uses index: the API's contacts?handle= (api.views.directory.contact_list).
            models.Index(fields=["handle"], name="contact_handle_idx"),
        ]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self) -> str:
        return self.label(self.name, self.handle, self.external_id)

    @staticmethod
    def label(name: str, handle: str, external_id: str) -> str:
        """How a contact is shown, also for rows read without a model instance."""
        return name or handle or external_id


class Status(models.TextChoices):
    NEW = "new", _("New")
    TRIAGED = "triaged", _("Triaged")
    ASSIGNED = "assigned", _("Assigned")
    ANSWERED = "answered", _("Answered")
    WAITING = "waiting", _("Waiting on customer")
    CLOSED = "closed", _("Closed")
    NO_REPLY_NEEDED = "no_reply_needed", _("No reply needed")
    HIDDEN = "hidden", _("Hidden")


OPEN_STATUSES = (Status.NEW, Status.TRIAGED, Status.ASSIGNED, Status.ANSWERED, Status.WAITING)
# As plain strings, for the partial indexes and constraints (migrations serialise these).
OPEN_STATUS_VALUES = [status.value for status in OPEN_STATUSES]
END_STATUSES = (Status.CLOSED, Status.NO_REPLY_NEEDED, Status.HIDDEN)


class Priority(models.IntegerChoices):
    LOW = 0, _("Low")
    NORMAL = 1, _("Normal")
    HIGH = 2, _("High")
    URGENT = 3, _("Urgent")


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    NEUTRAL = "neutral", _("Neutral")
    POSITIVE = "positive", _("Positive")


class Flag(enum.IntFlag):
    """Bits stored in Conversation.flags and Message.flags (an integer: cheap to filter on any DB)."""

    THREAT = 1
    ABUSE = 2
    POLITICAL = 4
    IMPERSONATION = 8
    SPAM = 16
    FAKE_ACCOUNT = 32
    PRESS = 64
    VIP = 128

    @classmethod
    def labels(cls) -> dict["Flag", "StrOrPromise"]:
        return {
            cls.THREAT: _("Threat"),
            cls.ABUSE: _("Abuse"),
            cls.POLITICAL: _("Political"),
            cls.IMPERSONATION: _("Possible impersonation"),
            cls.SPAM: _("Spam"),
            cls.FAKE_ACCOUNT: _("Fake account"),
            cls.PRESS: _("Press"),
            cls.VIP: _("VIP"),
        }


class SlaState(models.TextChoices):
    NONE = "none", _("No SLA")
    OK = "ok", _("On time")
    AT_RISK = "at_risk", _("At risk")
    OVERDUE = "overdue", _("Overdue")


def needs_reply_key() -> Coalesce:
    """The sort key of "most likely needs a reply first": the score, unscored (NULL) as -1 so
    they come last on PostgreSQL and SQLite alike (the two put NULLs at opposite ends)."""
    return Coalesce("needs_reply", Value(-1), output_field=models.SmallIntegerField())


class Conversation(models.Model):
    # No single-column FK indexes where a composite index below starts with the
    # column (conv_channel_thread_idx, conv_contact_idx, conv_dept_status_idx):
    # every index costs each ingested conversation an insert.
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    # The platform's thread id (X conversation_id, e-mail root Message-ID, post id...).
    thread_key = models.CharField(max_length=255)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW
    )
    status_reason = models.TextField(_("reason"), blank=True, default="")
    department = models.ForeignKey(
        "routing.Department",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        db_index=False,
    )
    # Null on most rows (every new one): indexed by a partial index below, so ingest
    # does not add an index entry per conversation for nothing.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
        db_index=False,
    )
    priority = models.SmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    language = models.CharField(_("language"), max_length=8, blank=True, default="")
    sentiment = models.CharField(
        _("sentiment"), max_length=10, choices=Sentiment.choices, default=Sentiment.NEUTRAL
    )
    flags = models.IntegerField(default=0)
    snippet = models.CharField(max_length=280, blank=True, default="")
    is_public = models.BooleanField(default=True)
    message_count = models.PositiveIntegerField(default=0)
    # First inbound message (inbox order) and latest activity.
    received_at = models.DateTimeField()
    last_message_at = models.DateTimeField()
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # Optimistic concurrency: every state change bumps version; actions send the version they saw.
    version = models.PositiveIntegerField(default=1)
    # Rarely set: indexed by the partial indexes below, not by a full FK index.
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
        db_index=False,
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged",
        db_index=False,
    )
    # "Continue privately" (inbox/services/handover.py): the private conversation this public
    # one went on in; its continued_from are the public mentions handed over to it.
    continued_in = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="continued_from",
        db_index=False,
    )
    # Set by routing.rules.apply.apply_routing: the department a rule suggests (not forwarded).
    suggested_department = models.ForeignKey(
        "routing.Department",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suggested_conversations",
        verbose_name=_("suggested department"),
        db_index=False,  # partial index below, as assignee
    )
    # SLA (set by routing.sla.clocks)
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    sla_warn_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_state = models.CharField(max_length=10, choices=SlaState.choices, default=SlaState.NONE)
    # Start of the current pause (waiting on the customer); null while the clocks run.
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # "Needs a reply" (inbox/lib/assist/needs_reply.py): 0-100 from the latest customer message,
    # scored at ingest; None when not scored (no customer message yet, or scoring failed).
    # A hint only: nothing is hidden or sent because of it.
    needs_reply = models.SmallIntegerField(_("needs a reply (0-100)"), null=True, blank=True)
    # Why, as comma-separated codes from needs_reply.REASONS ("question,request").
    needs_reply_reasons = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Changed only by inbox.services.labels (and routing rules through it): audited, versioned.
    labels: "models.ManyToManyField[Label, ConversationLabel]" = models.ManyToManyField(
        "Label", through="ConversationLabel", related_name="conversations", blank=True
    )

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "thread_key"],
                condition=Q(status__in=OPEN_STATUS_VALUES),
                name="conversation_one_open_per_thread",
            )
        ]
        indexes = [
            # Uses index: the shared inbox's keyset page (received_at DESC, id DESC) over open items.
            models.Index(
                fields=["-received_at", "-id"],
                name="conv_open_inbox_idx",
                condition=Q(status__in=OPEN_STATUS_VALUES),
            ),
            models.Index(
                fields=["department", "status", "-received_at", "-id"], name="conv_dept_status_idx"
            ),
            # Uses index: a team's queue in its own order (inbox.selectors.team.team_queue_page) reads
            # its first page from here, not every open item of the team through a sort.
            models.Index(
                fields=["department", "sla_due_at", "received_at", "id"],
                name="conv_team_queue_idx",
                condition=Q(
                    status__in=OPEN_STATUS_VALUES,
                    department__isnull=False,
                ),
            ),
            models.Index(fields=["status", "-received_at", "-id"], name="conv_status_idx"),
            # Uses index: the inbox sorted "most likely needs a reply first" (keyset on
            # needs_reply_key(), received_at, id, all descending) over open items.
            models.Index(
                needs_reply_key().desc(),
                F("received_at").desc(),
                F("id").desc(),
                name="conv_open_needs_reply_idx",
                condition=Q(status__in=OPEN_STATUS_VALUES),
            ),
            # Uses index: the SLA sweep looks only at clocks that passed a threshold since the last sweep.
            models.Index(
                fields=["sla_warn_at"], name="conv_sla_warn_idx", condition=Q(sla_state="ok")
            ),
            models.Index(
                fields=["sla_due_at"],
                name="conv_sla_due_idx",
                condition=Q(sla_state__in=["ok", "at_risk"]),
            ),
            models.Index(fields=["channel", "thread_key"], name="conv_channel_thread_idx"),
            models.Index(fields=["contact", "-received_at"], name="conv_contact_idx"),
            models.Index(
                fields=["previous"], name="conv_previous_idx", condition=Q(previous__isnull=False)
            ),
            models.Index(
                fields=["merged_into"],
                name="conv_merged_into_idx",
                condition=Q(merged_into__isnull=False),
            ),
            models.Index(
                fields=["continued_in"],
                name="conv_continued_in_idx",
                condition=Q(continued_in__isnull=False),
            ),
            models.Index(
                fields=["assignee"], name="conv_assignee_idx", condition=Q(assignee__isnull=False)
            ),
            models.Index(
                fields=["suggested_department"],
                name="conv_suggested_dept_idx",
                condition=Q(suggested_department__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.snippet[:40]}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("inbox:conversation", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def flag_list(self) -> list[Flag]:
        return [flag for flag in Flag if self.flags & flag]


class Direction(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")


class Message(models.Model):
    # channel and conversation are indexed by message_channel_external_id and
    # msg_conversation_idx (they lead those indexes); a separate FK index would
    # only slow ingest down.
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    external_id = models.CharField(max_length=255)
    parent_external_id = models.CharField(max_length=255, blank=True, default="")
    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.INBOUND)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # Null for everything ingested: a partial index (msg_sent_by_idx) instead of a full one.
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sent_messages",
        db_index=False,
    )
    text = models.TextField(blank=True, default="")
    url = models.URLField(max_length=1000, blank=True, default="")
    is_public = models.BooleanField(default=True)
    # Automatic acknowledgements do not count as a response (SLA, dashboards).
    is_automatic = models.BooleanField(default=False)
    language = models.CharField(max_length=8, blank=True, default="")
    sentiment = models.CharField(
        max_length=10, choices=Sentiment.choices, default=Sentiment.NEUTRAL
    )
    flags = models.IntegerField(default=0)
    created_at = models.DateTimeField()  # on the platform
    ingested_at = models.DateTimeField(auto_now_add=True)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="message_channel_external_id"
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="msg_conversation_idx"),
            # Uses: inbox.services.spikes.detect_spikes (messages per channel in a time window).
            models.Index(fields=["channel", "created_at"], name="msg_channel_created_idx"),
            models.Index(
                fields=["sent_by"], name="msg_sent_by_idx", condition=Q(sent_by__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class ConversationEvent(models.Model):
    """The audit trail: one row per action on a conversation. Append-only."""

    # Both indexed below: conversation by (conversation, created_at); actor (null for ingest
    # and the system) by a partial index.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    kind = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="event_conversation_idx"),
            models.Index(
                fields=["actor"], name="event_actor_idx", condition=Q(actor__isnull=False)
            ),
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.kind} on #{self.conversation_id}"


class Notification(models.Model):
    """An in-app notification (SLA at risk, @mention, threat, spike...); e-mail goes out on commit too."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=500, blank=True, default="")
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    # Idempotency: the same event notifies a user once (e.g. "sla-overdue:123:first_response").
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="notification_dedupe",
            )
        ]
        indexes = [
            models.Index(fields=["user", "read_at", "-created_at"], name="notification_user_idx")
        ]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return self.text


class SpikeAlert(models.Model):
    """A channel (keyword "") or one of its keywords got unusually many messages in 15 minutes."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="spike_alerts")
    keyword = models.CharField(_("keyword"), max_length=100, blank=True, default="")
    # The quarter hour the spike was seen in (inbox.lib.spikes.window_start): one alert per window.
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(_("messages in the last 15 minutes"))
    baseline = models.FloatField(_("usual number"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "keyword", "window_start"], name="spikealert_once_per_window"
            )
        ]
        # Serves the UI list: recent alerts, newest first.
        indexes = [models.Index(fields=["-created_at"], name="spikealert_recent_idx")]
        verbose_name = _("spike alert")
        verbose_name_plural = _("spike alerts")

    def __str__(self) -> str:
        return f"{self.channel} {self.keyword} {self.window_start:%Y-%m-%d %H:%M}: {self.count}"


# --- Replies, review and the outbox ---------------------------------------------------------


class ReplyState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_REVIEW = "pending_review", _("Waiting for review")
    APPROVED = "approved", _("Approved, queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # The platform call may or may not have posted (crash, timeout, 5xx): checked before any retry.
    UNKNOWN = "unknown", _("Outcome unknown, checking")


class DeliveryStatus(models.TextChoices):
    """A sent message's fate as the platform reports it later (WhatsApp status callbacks).
    The order of the members is their progress: a late "delivered" never undoes "read"."""

    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Not delivered")


class AfterSend(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    WAITING = "waiting", _("Wait for the customer")
    CLOSE = "close", _("Close")


class Reply(models.Model):
    """One answer to a conversation, from draft to the platform. Changed only by inbox.services.replies/outbox."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="replies"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviewed_replies",
    )
    state = models.CharField(
        _("state"), max_length=20, choices=ReplyState.choices, default=ReplyState.DRAFT
    )
    text = models.TextField(_("reply"))
    # Sent as a direct message instead of a public reply.
    private = models.BooleanField(_("private message"), default=False)
    # The public "we have sent you a message" that goes with a private reply.
    notice_for = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="public_notice"
    )
    # What the conversation becomes once sent: answered, waiting on the customer, or closed.
    after_send = models.CharField(
        _("after sending"), max_length=10, choices=AfterSend.choices, default=AfterSend.ANSWERED
    )
    review_comment = models.TextField(_("review comment"), blank=True, default="")
    # Frozen at approval: the posts exactly as they go out (signature added, split into a thread).
    parts = models.JSONField(default=list, blank=True)
    # Platform ids of the parts posted so far, in order; parts[len(posted_ids)] is next.
    posted_ids = models.JSONField(default=list, blank=True)
    external_id = models.CharField(max_length=255, blank=True, default="")
    external_url = models.URLField(max_length=1000, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    # A WhatsApp template message ({"name", "language", "parameters"}): what is sent instead of
    # free text outside the 24-hour window; text then holds its readable preview.
    template = models.JSONField(default=dict, blank=True)
    # What the platform's status callbacks said after sending (sent/delivered/read/failed).
    delivery_status = models.CharField(
        _("delivery"), max_length=10, choices=DeliveryStatus.choices, blank=True, default=""
    )
    delivery_error = models.TextField(blank=True, default="")
    delivery_updated_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    # A worker holds the reply while it is in "sending" until this time; after it, another may
    # take over (the holder crashed). Longer than the connector's timeout.
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="reply_conversation_idx"),
            # Uses index: the outbox recovery sweep (replies stuck in sending or unknown).
            models.Index(
                fields=["lease_until"],
                name="reply_outbox_idx",
                condition=Q(state__in=["sending", "unknown"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Reply {self.pk} ({self.state})"


class ReplyVersion(models.Model):
    """Every saved text of a reply, kept for the audit trail (drafts, review edits)."""

    reply = models.ForeignKey(Reply, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What made this version: draft, submit, review_edit, sent_back.
    reason = models.CharField(max_length=20, default="draft")
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reply", "number"], name="reply_version_unique")
        ]
        ordering = ["reply", "number"]

    def __str__(self) -> str:
        return f"v{self.number} of reply {self.reply_id}"


class AttemptOutcome(models.TextChoices):
    PENDING = "pending", _("In progress")
    SENT = "sent", _("Posted")
    FOUND = "found", _("Found on the platform after an unknown outcome")
    NOT_FOUND = "not_found", _("Checked: not posted")
    FAILED = "failed", _("Failed (not posted)")
    UNKNOWN = "unknown", _("Outcome unknown")


class ReplyAttempt(models.Model):
    """One call to the platform, committed BEFORE the call so a crash leaves a trace to check."""

    reply = models.ForeignKey(Reply, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    part_index = models.PositiveIntegerField(default=0)
    outcome = models.CharField(
        max_length=12, choices=AttemptOutcome.choices, default=AttemptOutcome.PENDING
    )
    external_id = models.CharField(max_length=255, blank=True, default="")
    error = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reply", "number"], name="reply_attempt_unique")
        ]
        ordering = ["reply", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of reply {self.reply_id}: {self.outcome}"


class FaqSet(models.Model):
    """Prepared answers for an expected discussion (a letter that will go viral, a rent increase)."""

    department = models.ForeignKey(
        "routing.Department",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="faq_sets",
        help_text=_("Empty: available to every team."),
    )
    topic = models.CharField(_("topic"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["topic"]
        verbose_name = _("FAQ set")
        verbose_name_plural = _("FAQ sets")

    def __str__(self) -> str:
        return self.topic


class CannedAnswer(models.Model):
    """A reusable answer with {{variables}}; per team (or all teams) and language."""

    department = models.ForeignKey(
        "routing.Department",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_answers",
        help_text=_("Empty: available to every team."),
    )
    faq_set = models.ForeignKey(
        FaqSet, null=True, blank=True, on_delete=models.CASCADE, related_name="answers"
    )
    language = models.CharField(_("language"), max_length=8, default="nl")
    title = models.CharField(_("title"), max_length=200)
    shortcut = models.SlugField(_("shortcut"), max_length=50, blank=True, default="")
    body = models.TextField(
        _("text"),
        help_text=_(
            "Variables: {{contact_name}}, {{contact_handle}}, {{agent_name}}, {{agent_initials}}, "
            "{{team}}, {{conversation_id}}, {{channel}}."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        indexes = [
            models.Index(fields=["department", "language"], name="canned_team_lang_idx"),
        ]
        verbose_name = _("canned answer")
        verbose_name_plural = _("canned answers")

    def __str__(self) -> str:
        return self.title


class Note(models.Model):
    """An internal note on a conversation; never sent to the customer. @username mentions notify."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="notes"
    )
    text = models.TextField(_("note"))
    mentioned = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in_notes"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="note_conversation_idx")
        ]
        verbose_name = _("note")
        verbose_name_plural = _("notes")

    def __str__(self) -> str:
        return self.text[:60]


# --- Triage: reasons, house rules, saved views, contact notes -----------------------------


class NoReplyReason(models.Model):
    """A configurable reason for "no reply needed" (political remark, spam, handled elsewhere...)."""

    label = models.CharField(_("label"), max_length=120, unique=True)
    order = models.PositiveIntegerField(_("order"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "label"]
        verbose_name = _("no-reply reason")
        verbose_name_plural = _("no-reply reasons")

    def __str__(self) -> str:
        return self.label


class HouseRule(models.Model):
    """A moderation rule; hidden conversations quote it, and /house-rules/ publishes it."""

    title = models.CharField(_("title"), max_length=120, unique=True)
    text = models.TextField(_("text"))
    order = models.PositiveIntegerField(_("order"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "title"]
        verbose_name = _("house rule")
        verbose_name_plural = _("house rules")

    def __str__(self) -> str:
        return self.title


class SavedView(models.Model):
    """A user's named inbox filter, stored as the inbox query string."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filter"), max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_user_name")
        ]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")

    def __str__(self) -> str:
        return self.name


class ContactNote(models.Model):
    """An internal note about a contact, visible to the team (never sent to the platform)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(_("note"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["contact", "-created_at"], name="contact_note_idx")]
        verbose_name = _("contact note")
        verbose_name_plural = _("contact notes")

    def __str__(self) -> str:
        return self.text[:60]


class RetentionCursor(models.Model):
    """How far the retention policy has got on one channel (inbox.services.privacy).

    Retention walks a channel's messages in (created_at, id) order; the position is
    saved with each batch, so a run that dies half-way continues where it stopped and
    the next run does not rescan what is anonymised already.
    """

    channel = models.OneToOneField(
        Channel, on_delete=models.CASCADE, primary_key=True, related_name="retention_cursor"
    )
    # Every message up to (message_created_at, message_id) is past the retention.
    message_created_at = models.DateTimeField(null=True, blank=True)
    message_id = models.BigIntegerField(default=0)
    # Contacts without a conversation, walked by id.
    contact_id = models.BigIntegerField(default=0)
    # Start of the current pass: a pass from the start now and then catches messages
    # that arrived with a platform time already behind the cursor (a late backfill).
    pass_started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("retention progress")
        verbose_name_plural = _("retention progress")

    def __str__(self) -> str:
        return f"retention of channel {self.channel_id}"


class LabelColour(models.TextChoices):
    """A small palette whose chips (static/css/app.css .label-*) keep dark text on a light
    background at a contrast of at least 4.5:1, so a label reads without its colour too."""

    GREY = "grey", _("Grey")
    BLUE = "blue", _("Blue")
    GREEN = "green", _("Green")
    YELLOW = "yellow", _("Yellow")
    ORANGE = "orange", _("Orange")
    RED = "red", _("Red")
    PURPLE = "purple", _("Purple")


class Label(models.Model):
    """A tag on conversations (one organisation: global), managed by administrators. Archived
    (is_active off) rather than deleted: conversations and reports keep the labels they had."""

    name = models.CharField(_("name"), max_length=60)
    colour = models.CharField(
        _("colour"), max_length=10, choices=LabelColour.choices, default=LabelColour.GREY
    )
    description = models.CharField(_("description"), max_length=300, blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # "Klacht" and "klacht" are one label: unique on the lower-cased name.
            models.UniqueConstraint(Lower("name"), name="label_name_ci_unique"),
        ]
        verbose_name = _("label")
        verbose_name_plural = _("labels")

    def __str__(self) -> str:
        return self.name


class ConversationLabel(models.Model):
    """A label on a conversation: who applied it, or which routing rule did (then applied_by is
    empty and the UI says "applied by rule X")."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="label_links", db_index=False
    )
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="links", db_index=False)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rule = models.ForeignKey(
        "routing.RoutingRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="label_links",
    )
    applied_at = models.DateTimeField(default=timezone.now)
    # The conversation's received_at, copied: the labels dashboard reads one period's labelled
    # conversations from convlabel_received_idx instead of every conversation of the period.
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index of "the labels of these rows" (one query per inbox page).
            models.UniqueConstraint(
                fields=["conversation", "label"], name="conversation_label_unique"
            )
        ]
        indexes = [
            # Uses index: the inbox and team queue filtered by a rare label read its
            # conversations from here; a common one probes the unique index per row instead.
            models.Index(fields=["label", "conversation"], name="convlabel_label_idx"),
            # Uses index: the labels dashboard's period (reports.selectors.label_rows).
            models.Index(
                fields=["received_at", "label", "conversation"], name="convlabel_received_idx"
            ),
        ]
        verbose_name = _("conversation label")
        verbose_name_plural = _("conversation labels")

    def __str__(self) -> str:
        return f"{self.label_id} on #{self.conversation_id}"
