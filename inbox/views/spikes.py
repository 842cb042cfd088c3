"""The spike alert list: a fragment that htmx polls, or a page of its own without htmx."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from inbox.models import SpikeAlert
from webcare.http import AuthedRequest
from webcare.permissions import coordinator_or_manager_required

RECENT = timedelta(hours=24)
LIMIT = 20


@require_GET
@coordinator_or_manager_required  # both are notified of a spike, with a link to this list
@vary_on_headers("HX-Request")
def spike_alerts(request: AuthedRequest):
    # Uses index: spikealert_recent_idx (-created_at).
    alerts = (
        SpikeAlert.objects.filter(created_at__gte=timezone.now() - RECENT)
        .select_related("channel")
        .order_by("-created_at")[:LIMIT]
    )
    template = "inbox/spike_alerts.html" if request.htmx else "inbox/spike_alerts_page.html"
    return render(request, template, {"alerts": alerts, "active": "spikes"})
