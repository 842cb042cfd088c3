"""Dashboards: the page is a shell; each panel is its own htmx fragment (and CSV export).

Permissions: the manager dashboard needs the manager role; the team dashboard a
team lead (only the teams they lead, checked in reports.selectors.scope_for) or
a manager. Panel fragments and CSV exports apply the same checks.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from inbox.models import Channel, Message
from reports.definitions import crisis_export_notes, definitions, export_notes, orphan_note
from reports.models import RollupWatermark
from reports.panels import PANELS, Panel, export_table
from reports.periods import DEFAULT_DAYS, PERIOD_CHOICES, Period
from reports.selectors import (
    Scope,
    orphan_starts,
    scope_for,
    shared_reads,
)
from routing.models import Department
from webcare.csvcell import safe_row
from webcare.http import AuthedRequest
from webcare.permissions import lead_or_manager_required, manager_required

MANAGER_PANELS = list(PANELS)
# Not split per team (their panels say so): the channel, channel kind and language breakdowns.
TEAM_PANELS = [p for p in PANELS if p not in ("channel", "channel_kind", "language")]


MAX_CUSTOM_DAYS = 3700


def _period(request) -> Period:
    """The last N days (the picker), or a custom range of whole days: ?from=YYYY-MM-DD&to=..."""
    first: date | None
    last: date | None
    try:
        first = date.fromisoformat(request.GET.get("from", ""))
        last = date.fromisoformat(request.GET.get("to", ""))
    except ValueError:
        first = last = None
    if first and last and first <= last and (last - first).days < MAX_CUSTOM_DAYS:
        return Period.between(first, last)
    try:
        days = int(request.GET.get("days", DEFAULT_DAYS))
    except ValueError:
        days = DEFAULT_DAYS
    if days not in PERIOD_CHOICES:
        days = DEFAULT_DAYS
    return Period.ending_today(days)


def _team_id(request) -> int | None:
    value = request.GET.get("team", "")
    return int(value) if value.isdigit() else None


# ?orphans=exclude: the conversation figures without the conversations that started with a
# reply to a message not in the inbox (the dashboard's check box; panels and CSV links keep it).
ORPHANS_PARAM = "orphans"
EXCLUDE = "exclude"


def _scope(request, *, team: bool) -> Scope:
    if not team:
        if not request.user.is_manager:
            raise PermissionDenied
        scope = Scope()
    else:
        scope = scope_for(request.user, _team_id(request))
    without = request.GET.get(ORPHANS_PARAM) == EXCLUDE
    return dataclasses.replace(scope, without_orphans=without)


def _page(request, *, team: bool, panels: list[str], template="reports/dashboard.html"):
    period = _period(request)
    scope = _scope(request, team=team)
    teams = Department.objects.all()
    if not request.user.is_manager:
        teams = teams.filter(memberships__user=request.user, memberships__is_lead=True)
    query = request.GET.urlencode()
    query = (query + "&" if query else "") + ("scope=team" if team else "scope=all")
    return render(
        request,
        template,
        {
            "period": period,
            "previous": period.previous(),
            "choices": PERIOD_CHOICES,
            "panels": panels,
            "query": query,
            "is_team": team,
            "without_orphans": scope.without_orphans,
            "orphan_note": orphan_note(
                orphan_starts(period, scope=scope), excluded=scope.without_orphans
            ),
            "definitions": definitions(),
            "teams": teams,
            "team_id": _team_id(request),
            "scope_names": (
                list(
                    Department.objects.filter(pk__in=scope.departments or ()).values_list(
                        "name", flat=True
                    )
                )
                if scope.is_team
                else []
            ),
        },
    )


@require_GET
@lead_or_manager_required
def dashboard(request: AuthedRequest):
    if not request.user.is_manager:  # a team lead's "Dashboards" is their team's dashboard
        return redirect("reports:team")
    return _page(request, team=False, panels=MANAGER_PANELS)


@require_GET
@lead_or_manager_required
def team_dashboard(request: AuthedRequest):
    return _page(request, team=True, panels=TEAM_PANELS)


@require_GET
@lead_or_manager_required
def panel(request: AuthedRequest, name: str):
    builder = PANELS.get(name)
    if builder is None:
        raise Http404
    period = _period(request)
    scope = _scope(request, team=request.GET.get("scope") == "team")
    data = panel_data(name, period, scope)
    if request.GET.get("format") == "csv":
        notes = export_notes(data, period, scope)
        return _csv(data, f"{name}-{period.start.date()}-{period.days}d.csv", notes)
    return render(
        request,
        "reports/panel.html",
        {
            "panel": data,
            "period": period,
            "query": request.GET.urlencode(),
            # Each row as (its label, its figures): the template writes the label as a row header.
            "table": [(row[0], row[1:]) for row in data.rows if row],
        },
    )


PANEL_CACHE_SECONDS = 60


def panel_data(name: str, period: Period, scope: Scope):
    """A panel's figures, shared by every viewer of the same scope for up to a minute.

    Rollups change at most once a minute (the beat task), so the key holds the rollup
    watermarks and the current minute: the cache never serves figures older than the task's
    own cadence, and a dashboard opened by ten managers at once computes each panel once.
    """
    marks = sorted(RollupWatermark.objects.values_list("name", "last_id"))
    minute = timezone.now().replace(second=0, microsecond=0).isoformat()
    raw = f"{name}|{period.start.isoformat()}|{period.days}|{scope}|{get_language()}"
    key = "reports:panel:" + hashlib.sha256(f"{raw}|{marks}|{minute}".encode()).hexdigest()
    data = cache.get(key)
    if data is None:
        with shared_reads():
            data = PANELS[name](period, scope)
        cache.set(key, data, PANEL_CACHE_SECONDS)
    return data


def _csv(data, filename: str, notes: list[str]) -> HttpResponse:
    """The panel's table under its notes: each note a row of one cell that starts with "# ", so a
    spreadsheet shows the notes as text above the table and a program finds the header as the
    first row that does not start with "#". Every cell goes through the formula guard."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    for line in notes:
        writer.writerow(safe_row([f"# {line}"]))
    # Durations go out in whole seconds (machine-readable); their column headers say so.
    header, rows = export_table(data)
    writer.writerow(safe_row(header))
    # Team, channel and user names are typed by people: no formulas (webcare.csvcell).
    for row in rows:
        writer.writerow(safe_row(row))
    return response


@require_GET
@lead_or_manager_required
def definitions_page(request: AuthedRequest):
    return render(request, "reports/definitions.html", {"definitions": definitions()})


@require_GET
@manager_required
def weekly_report(request: AuthedRequest):
    from reports.weekly import report_context

    return render(request, "reports/weekly.html", report_context())


# --------------------------------------------------------------------------
# Crisis view: live volume per minute, straight from the messages (last two hours only)
# --------------------------------------------------------------------------

CRISIS_WINDOW = timedelta(hours=2)
CRISIS_PAGE = 25


def _crisis_filter(request):
    qs = Message.objects.filter(direction="in", created_at__gte=timezone.now() - CRISIS_WINDOW)
    channel = request.GET.get("channel", "")
    keyword = request.GET.get("q", "").strip()[:100]
    if channel.isdigit():
        qs = qs.filter(channel_id=int(channel))
    if keyword:
        qs = qs.filter(text__icontains=keyword)
    return qs, channel, keyword


@require_GET
@manager_required
def crisis(request: AuthedRequest):
    return render(
        request,
        "reports/crisis.html",
        {
            "channels": Channel.objects.order_by("name").only("id", "name"),
            "channel": request.GET.get("channel", ""),
            "q": request.GET.get("q", ""),
            "query": _without(request.GET, "before"),
        },
    )


def _without(params, name: str) -> str:
    params = params.copy()
    params.pop(name, None)
    return params.urlencode()


@require_GET
@manager_required
def crisis_live(request: AuthedRequest):
    qs, _channel, _keyword = _crisis_filter(request)
    now = timezone.now().replace(second=0, microsecond=0)
    first = now - CRISIS_WINDOW + timedelta(minutes=1)
    minutes = [first + timedelta(minutes=i) for i in range(120)]
    counts = dict.fromkeys(minutes, 0)
    for at in qs.values_list("created_at", flat=True).iterator(chunk_size=2000):
        minute = at.replace(second=0, microsecond=0)
        if minute in counts:
            counts[minute] += 1
    labels = [timezone.localtime(m).strftime("%H:%M") for m in minutes]
    if request.GET.get("format") == "csv":
        table = Panel("crisis", _("Messages in per minute"), [_("Minute"), _("Messages in")], [])
        table.rows = [[label, n] for label, n in zip(labels, counts.values(), strict=True)]
        return _csv(table, "crisis-per-minute.csv", crisis_export_notes())
    chart = {
        "type": "bar",
        "labels": labels,
        "datasets": [{"label": str(_("Messages in per minute")), "data": list(counts.values())}],
    }
    # The conversations behind it: newest first, keyset on (created_at, id), no OFFSET.
    page = qs.select_related("conversation").order_by("-created_at", "-id")
    before = request.GET.get("before", "")
    if "_" in before:
        at, _sep, pk = before.partition("_")
        with contextlib.suppress(ValueError):
            page = page.filter(created_at__lte=datetime.fromisoformat(at)).exclude(
                created_at=datetime.fromisoformat(at), id__gte=int(pk)
            )
    items = list(page[: CRISIS_PAGE + 1])
    more = len(items) > CRISIS_PAGE
    items = items[:CRISIS_PAGE]
    next_key = f"{items[-1].created_at.isoformat()}_{items[-1].pk}" if more and items else ""
    return render(
        request,
        "reports/crisis_live.html",
        {
            "chart": chart,
            "rows": list(zip(labels, counts.values(), strict=True)),
            "messages_list": items,
            "next_key": next_key,
            "total": sum(counts.values()),
            "query": _without(request.GET, "before"),
        },
    )
