"""The webhook settings pages (administrators only): list, create (the secret shown once),
edit, enable/disable, delete, the delivery log and the "send test event" button."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.forms import SubscriptionForm
from integrations.models import (
    DeliveryAttempt,
    DeliveryState,
    WebhookChange,
    WebhookSubscription,
)
from integrations.services import subscriptions as service
from webcare.http import AuthedRequest
from webcare.permissions import admin_required

PAGE_SIZE = 50


@require_GET
@admin_required
def webhooks(request: AuthedRequest):
    rows = WebhookSubscription.objects.annotate(
        pending=Count("deliveries", filter=Q(deliveries__state=DeliveryState.PENDING))
    ).order_by("name", "id")
    return render(
        request, "integrations/webhooks.html", {"subscriptions": rows, "active": "settings"}
    )


@never_cache  # the answer holds the secret: no cache keeps a copy
@require_http_methods(["GET", "POST"])
@admin_required
def webhook_new(request: AuthedRequest):
    form = SubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        subscription, secret = service.create_subscription(
            **form.cleaned_data, acting_user=request.user
        )
        # Rendered, not redirected: this answer is the one place the secret is ever shown.
        return render(
            request,
            "integrations/webhook_created.html",
            {"subscription": subscription, "secret": secret, "active": "settings"},
        )
    return render(
        request,
        "integrations/webhook_form.html",
        {"form": form, "subscription": None, "active": "settings"},
    )


@require_http_methods(["GET", "POST"])
@admin_required
def webhook_edit(request: AuthedRequest, pk: int):
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    initial = {f: getattr(subscription, f) for f in service.FIELDS}
    form = SubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        service.update_subscription(
            subscription=subscription, **form.cleaned_data, acting_user=request.user
        )
        messages.success(request, _("Webhook %(name)s saved.") % {"name": subscription.name})
        return redirect(subscription)
    return render(
        request,
        "integrations/webhook_form.html",
        {"form": form, "subscription": subscription, "active": "settings"},
    )


@require_POST
@admin_required
def webhook_active(request: AuthedRequest, pk: int):
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    active = request.POST.get("active") == "1"
    service.set_active(subscription=subscription, active=active, acting_user=request.user)
    if active:
        messages.success(request, _("Webhook enabled: waiting events are sent now."))
    else:
        messages.success(request, _("Webhook disabled: events wait until it is enabled again."))
    return redirect(subscription)


@require_POST
@admin_required
def webhook_delete(request: AuthedRequest, pk: int):
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    name = subscription.name
    service.delete_subscription(subscription=subscription, acting_user=request.user)
    messages.success(request, _("Webhook %(name)s deleted.") % {"name": name})
    return redirect("integrations:webhooks")


@require_POST
@admin_required
def webhook_test(request: AuthedRequest, pk: int):
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    event = service.send_test_event(subscription=subscription, acting_user=request.user)
    messages.success(
        request,
        _("Test event %(id)s queued: its outcome shows in the log below in a moment.")
        % {"id": event.event_id},
    )
    return redirect(subscription)


@require_GET
@admin_required
def webhook_log(request: AuthedRequest, pk: int):
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    # Uses index: attempt_log_idx (subscription, -id): keyset pages, no OFFSET, no COUNT.
    attempts = (
        DeliveryAttempt.objects.filter(subscription=subscription)
        .select_related("delivery__event")
        .only(
            "id",
            "number",
            "started_at",
            "duration_ms",
            "status_code",
            "ok",
            "error",
            "delivery__state",
            "delivery__event__event_id",
            "delivery__event__type",
        )
        .order_by("-id")
    )
    before = request.GET.get("before", "")
    if before.isdigit():
        attempts = attempts.filter(id__lt=int(before))
    rows = list(attempts[: PAGE_SIZE + 1])
    next_before = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    pending = subscription.deliveries.filter(state=DeliveryState.PENDING).count()
    changes = list(
        WebhookChange.objects.filter(subscription_id=subscription.pk)
        .select_related("actor")
        .order_by("-id")[:10]
    )
    return render(
        request,
        "integrations/webhook_log.html",
        {
            "subscription": subscription,
            "attempts": rows[:PAGE_SIZE],
            "next_before": next_before,
            "pending": pending,
            "changes": changes,
            "active": "settings",
        },
    )
