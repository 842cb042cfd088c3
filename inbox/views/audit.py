"""The audit log (ConversationEvent) for managers and admins: filtered list and CSV export."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from inbox.models import ConversationEvent
from webcare.accounts.models import User
from webcare.csvcell import safe_cell
from webcare.http import AuthedRequest
from webcare.permissions import manager_required

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    actor = forms.ModelChoiceField(
        label=_("Who"), queryset=User.objects.order_by("username"), required=False
    )
    kind = forms.CharField(label=_("Action"), max_length=40, required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Up to and including"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filtered_events(data: dict) -> QuerySet[ConversationEvent]:
    qs = ConversationEvent.objects.all()
    if data.get("actor"):
        qs = qs.filter(actor=data["actor"])  # Uses index: the actor_id foreign-key index.
    if data.get("kind"):
        qs = qs.filter(kind=data["kind"].strip())
    if data.get("date_from"):
        qs = qs.filter(created_at__gte=_day_start(data["date_from"]))
    if data.get("date_to"):
        qs = qs.filter(created_at__lt=_day_start(data["date_to"] + timedelta(days=1)))
    # Ids grow with time in an append-only table: id DESC is the keyset (primary key index).
    return qs.order_by("-id")


@require_GET
@manager_required
def audit_log(request: AuthedRequest):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    qs = filtered_events(data)
    if data.get("before"):
        qs = qs.filter(id__lt=data["before"])
    rows = list(qs.select_related("actor")[: PAGE_SIZE + 1])
    next_before = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "events": rows[:PAGE_SIZE],
            "next_before": next_before,
            "query": query.urlencode(),
            "active": "audit",
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(qs: QuerySet[ConversationEvent]):
    writer = csv.writer(_Echo())
    yield writer.writerow(["id", "created_at_utc", "actor", "kind", "conversation", "data"])
    for event in qs.select_related("actor").iterator(chunk_size=2000):
        yield writer.writerow(
            [
                event.pk,
                event.created_at.astimezone(UTC).isoformat(),
                safe_cell(event.actor.username if event.actor else ""),
                safe_cell(event.kind),
                event.conversation_id,
                safe_cell(json.dumps(event.data, ensure_ascii=False, sort_keys=True)),
            ]
        )


@require_GET
@manager_required
def audit_export(request: AuthedRequest):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(
        _csv_rows(filtered_events(data)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response
