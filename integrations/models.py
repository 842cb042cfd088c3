"""Outgoing webhooks: who wants which events (subscriptions), the events themselves (the outbox,
written in the transaction of the change that caused them), one delivery per event and
subscription, and every try at it (the delivery log).

docs/webhooks.md describes the payload, the signature and the retry schedule.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    MENTION_RECEIVED = "mention.received", _("Mention received")
    CONVERSATION_FORWARDED = "conversation.forwarded", _("Conversation forwarded")
    REPLY_SENT = "reply.sent", _("Reply sent")
    SLA_AT_RISK = "sla.at_risk", _("SLA at risk")
    SLA_BREACHED = "sla.breached", _("SLA breached")
    THREAT_FLAGGED = "threat.flagged", _("Threat flagged")
    SPIKE_ALERT = "spike.alert", _("Spike alert")


# The "send test event" button's type: sent to one subscription, never subscribed to.
PING = "ping"


class WebhookSubscription(models.Model):
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(
        _("target URL"), max_length=500, validators=[URLValidator(schemes=["http", "https"])]
    )
    # A list of EventType values (JSON: SQLite has no arrays, and the list is read whole).
    event_types = models.JSONField(_("events"), default=list)
    # The signing secret, Fernet-encrypted like channel credentials (inbox.channels.credentials).
    # Shown once when the subscription is created; HMAC needs the secret itself, not a hash.
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=500, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Failure bookkeeping: tries that failed in a row, and when the current run of failures
    # began (None after a success). A run spanning a day disables the subscription.
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("integrations:webhook_log", args=[self.pk])

    def event_labels(self) -> list[str]:
        labels = dict(EventType.choices)
        return [str(labels.get(t, t)) for t in self.event_types]


class WebhookEvent(models.Model):
    """One thing that happened, as every subscriber receives it. Append-only."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=40)
    # The whole body sent: {"id", "type", "occurred_at", "data"}; the same bytes on every try.
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event to one subscription, tried until the receiver answers 2xx."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    state = models.CharField(max_length=10, choices=DeliveryState.choices)
    attempts = models.PositiveIntegerField(default=0)
    # When the next try is due; a worker that claims the delivery pushes it forward by its lease
    # first, so a worker that dies mid-try leaves it due again later, never lost.
    next_attempt_at = models.DateTimeField()
    failing_since = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "subscription"], name="delivery_once")
        ]
        indexes = [
            # Serves the claim: pending deliveries whose try is due (few rows, most delivered).
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=Q(state="pending"),
            ),
            models.Index(fields=["subscription", "state"], name="delivery_subscription_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.subscription_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One try: what the receiver answered and how long it took. The delivery log's rows."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    # A copy of the delivery's subscription, so the log pages by (subscription, id) alone.
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            # Serves the delivery log: a subscription's tries, newest first, keyset on id.
            models.Index(fields=["subscription", "-id"], name="attempt_log_idx"),
        ]

    def __str__(self) -> str:
        return f"try {self.number} of delivery {self.delivery_id}"


class ChangeAction(models.TextChoices):
    CREATED = "created", _("created")
    CHANGED = "changed", _("changed")
    ENABLED = "enabled", _("enabled")
    DISABLED = "disabled", _("disabled")
    DELETED = "deleted", _("deleted")
    TEST_SENT = "test_sent", _("test event sent")


class WebhookChange(models.Model):
    """The audit trail of the subscriptions: who created, changed, disabled or deleted one.

    ConversationEvent is per conversation; a subscription outlives nothing of that, so its
    changes have their own append-only rows, kept after the subscription is deleted.
    """

    subscription_id = models.BigIntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, choices=ChangeAction.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["subscription_id", "-id"], name="webhook_change_idx")]

    def __str__(self) -> str:
        return f"{self.action} webhook {self.subscription_id}"
