"""The dashboard panels as plain data: a title, a table (every panel has one: the text alternative
of its chart and the rows of its CSV export), optionally a chart, and the definitions its figures
follow (reports.definitions; quoted at the top of its CSV export).

Each builder takes (period, scope) and reads rollups through reports.selectors. The conversation
figures (response panel and breakdowns) follow scope.without_orphans; the others count messages.

Size: every builder sits next to PANELS, the one registry the page, the CSV export, the API's
figures and the weekly report read; the builders share the table and duration helpers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext_lazy as _

from inbox.models import Channel, ChannelKind, Flag, Label, SpikeAlert
from reports.models import DimKind, DurationMetric
from reports.periods import Period
from reports.rollup.metrics import PRIVATE, PUBLIC
from reports.selectors import (
    Scope,
    backlog,
    counters,
    daily_series,
    duration_stats,
    heatmap,
    label_figures,
    top_keywords,
)
from routing.models import Department, Membership
from webcare.accounts.models import User

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

FRT = [DurationMetric.FRT_CALENDAR, DurationMetric.FRT_BUSINESS]
ALL_DURATIONS: list[str] = [*FRT, DurationMetric.NRT_CALENDAR, DurationMetric.RESOLUTION_CALENDAR]
# The breakdown tables show no next-response time: not reading it saves a quarter of the rows.
BREAKDOWN_DURATIONS: list[str] = [*FRT, DurationMetric.RESOLUTION_CALENDAR]
SLA_COUNTS = ["frt_due", "frt_met", "nrt_due", "nrt_met", "res_due", "res_met", "responses"]

# The definitions each panel's figures follow (reports.definitions slugs). "orphan-starts" marks
# the panels whose figures the orphan filter changes.
RESPONSE_DEFINITIONS = (
    "first-response",
    "business-time",
    "next-response",
    "resolution",
    "sla-compliance",
    "replies-per-conversation",
    "automations-excluded",
    "percentiles",
    "orphan-starts",
    "periods",
)
BREAKDOWN_DEFINITIONS = (
    "first-response",
    "business-time",
    "resolution",
    "sla-compliance",
    "replies-per-conversation",
    "automations-excluded",
    "percentiles",
    "orphan-starts",
    "periods",
)
MESSAGE_DEFINITIONS = ("inbound-volume", "periods")


@dataclass
class Panel:
    name: str
    title: StrOrPromise
    columns: Sequence[StrOrPromise]
    rows: list[list[Any]]
    chart: dict | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)
    definitions: tuple[str, ...] = ()

    @property
    def counts_conversations(self) -> bool:
        """Whether the orphan filter changes this panel's figures."""
        return "orphan-starts" in self.definitions


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return _("%(n)s s") % {"n": number_format(round(seconds))}
    if seconds < 90 * 60:
        return _("%(n)s min") % {"n": number_format(round(seconds / 60))}
    if seconds < 36 * 3600:
        return _("%(n)s h") % {"n": number_format(round(seconds / 3600, 1), 1)}
    return _("%(n)s d") % {"n": number_format(round(seconds / 86400, 1), 1)}


class Duration:
    """A duration in a table: humanised on the page, whole seconds in the CSV export and the API
    (export_table)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __str__(self) -> str:
        return str(format_duration(self.seconds))


def export_table(data: Panel) -> tuple[list[str], list[list[Any]]]:
    """The panel's table as its CSV export and the API's figures give it: durations in whole
    seconds, their column headers marked "[s]"; every other cell as the page shows it."""
    durations = {i for row in data.rows for i, v in enumerate(row) if isinstance(v, Duration)}
    header = [f"{c} [s]" if i in durations else str(c) for i, c in enumerate(data.columns)]
    rows = [[round(v.seconds) if isinstance(v, Duration) else v for v in row] for row in data.rows]
    return header, rows


def percent(part: int, whole: int) -> str:
    if not whole:
        return "–"
    return f"{number_format(round(100 * part / whole, 1), 1)}%"


def ratio(part: int, whole: int) -> str:
    return number_format(round(part / whole, 2), 2) if whole else "–"


def _scope_dim(scope: Scope) -> tuple[str, list[str] | None]:
    if scope.is_team:
        return DimKind.DEPARTMENT, scope.department_dims()
    return DimKind.ALL, None


def _summary(period: Period, scope: Scope) -> dict[str, Any]:
    kind, dims = _scope_dim(scope)
    split = scope.without_orphans
    stats = duration_stats(
        period,
        metrics=ALL_DURATIONS,
        dim_kind=kind,
        dims=dims,
        per_dim=False,
        without_orphans=split,
    )
    counts = counters(
        period, metrics=SLA_COUNTS, dim_kind=kind, dims=dims, per_dim=False, without_orphans=split
    )

    def stat(metric):
        return stats.get((metric, ""))

    def count(metric):
        return counts.get((metric, ""), 0)

    answered = stat(DurationMetric.FRT_CALENDAR).count if stat(DurationMetric.FRT_CALENDAR) else 0
    return {"stat": stat, "count": count, "answered": answered}


def response_panel(period: Period, scope: Scope) -> Panel:
    now, before = _summary(period, scope), _summary(period.previous(), scope)
    rows: list[list[Any]] = []
    for metric, label in (
        (DurationMetric.FRT_BUSINESS, _("First response, business time")),
        (DurationMetric.FRT_CALENDAR, _("First response, calendar time")),
        (DurationMetric.NRT_CALENDAR, _("Next response, calendar time")),
        (DurationMetric.RESOLUTION_CALENDAR, _("Resolution, calendar time")),
    ):
        a, b = now["stat"](metric), before["stat"](metric)
        rows.append([f"{label}: {_('median')}", _med(a), _med(b)])
        rows.append([f"{label}: p90", _p90(a), _p90(b)])
    for prefix, label in (
        ("frt", _("SLA met: first response")),
        ("nrt", _("SLA met: next response")),
        ("res", _("SLA met: resolution")),
    ):
        rows.append(
            [
                label,
                percent(now["count"](f"{prefix}_met"), now["count"](f"{prefix}_due")),
                percent(before["count"](f"{prefix}_met"), before["count"](f"{prefix}_due")),
            ]
        )
    rows.append([_("Answered conversations"), now["answered"], before["answered"]])
    rows.append(
        [
            _("Replies per answered conversation"),
            ratio(now["count"]("responses"), now["answered"]),
            ratio(before["count"]("responses"), before["answered"]),
        ]
    )
    return Panel(
        "response",
        _("Response times and SLA"),
        [_("Figure"), _("This period"), _("Previous period")],
        rows,
        definitions=RESPONSE_DEFINITIONS,
    )


def _med(stat) -> Duration | str:
    return Duration(stat.p50) if stat and stat.p50 is not None else "–"


def _p90(stat) -> Duration | str:
    return Duration(stat.p90) if stat and stat.p90 is not None else "–"


def _labels(kind: str, dims: list[str]) -> dict[str, str]:
    ids = [int(d) for d in dims if d.isdigit()]
    if kind == DimKind.CHANNEL:
        return {str(k): v for k, v in Channel.objects.filter(pk__in=ids).values_list("id", "name")}
    if kind == DimKind.DEPARTMENT:
        labels = dict(Department.objects.filter(pk__in=ids).values_list("id", "name"))
        return {"0": str(_("No team yet")), **{str(k): v for k, v in labels.items()}}
    if kind == DimKind.AGENT:
        return {
            str(u.pk): u.get_full_name() or u.username
            for u in User.objects.filter(pk__in=ids).only(
                "id", "first_name", "last_name", "username"
            )
        }
    if kind == CHANNEL_KIND:
        return {d: str(ChannelKind(d).label) if d in ChannelKind else d for d in dims}
    if kind == DimKind.VISIBILITY:
        return {d: str(VISIBILITY_LABELS.get(d, d)) for d in dims}
    return {d: d if d != "und" else str(_("Unknown")) for d in dims}


# The two breakdowns that are no stored dimension of their own: "channel_kind" sums the channel
# dimension by each channel's kind at read time, "visibility" reads DimKind.VISIBILITY (per team:
# VISIBILITY_TEAM merged per visibility).
CHANNEL_KIND = "channel_kind"
BREAKDOWN_TITLES = {
    DimKind.DEPARTMENT: _("By department"),
    DimKind.CHANNEL: _("By channel"),
    DimKind.AGENT: _("By agent"),
    DimKind.LANGUAGE: _("By language"),
    DimKind.VISIBILITY: _("Public and private"),
    CHANNEL_KIND: _("By channel kind"),
}
VISIBILITY_LABELS = {PUBLIC: _("Public"), PRIVATE: _("Private")}


def _breakdown_source(
    kind: str, scope: Scope
) -> tuple[str, list[str] | None, dict[str, str] | None] | None:
    """What a breakdown reads: (stored dim kind, dims or None for all, dim -> the row it is
    summed into or None); None when the breakdown is not split per team and scope is a team's."""
    if kind == CHANNEL_KIND:
        if scope.is_team:
            return None
        # Channels are few: their kind is one small query, and the channel dimension's bins
        # summed per kind are exactly the bins of that kind's conversations (bins add up, the
        # percentiles come from the summed bins), so no stored dimension is needed.
        groups = {str(pk): k for pk, k in Channel.objects.values_list("id", "kind")}
        return DimKind.CHANNEL, list(groups), groups
    if not scope.is_team:
        return kind, None, None
    if kind == DimKind.DEPARTMENT:
        return kind, scope.department_dims(), None
    if kind == DimKind.AGENT:
        members = Membership.objects.filter(department_id__in=scope.departments or ())
        return kind, [str(u) for u in members.values_list("user_id", flat=True).distinct()], None
    if kind == DimKind.VISIBILITY:
        groups = {
            f"{vis}:{dept}": vis
            for vis in (PUBLIC, PRIVATE)
            for dept in scope.department_dims() or ()
        }
        return DimKind.VISIBILITY_TEAM, list(groups), groups
    return None


def breakdown_panel(kind: str) -> Callable[[Period, Scope], Panel]:
    definitions: tuple[str, ...] = BREAKDOWN_DEFINITIONS
    if kind == DimKind.AGENT:
        definitions = ("credited-to-sender", *BREAKDOWN_DEFINITIONS)
    # The public/private and channel kind rows are few: they also show their volume.
    volume = kind in (DimKind.VISIBILITY, CHANNEL_KIND)
    if volume:
        definitions = ("public-private", "inbound-volume", *definitions)

    def build(period: Period, scope: Scope) -> Panel:
        columns = [
            BREAKDOWN_TITLES[kind],
            *([_("Conversations"), _("Messages in")] if volume else []),
            _("Answered"),
            _("First response median (business)"),
            _("First response p90 (business)"),
            _("First response median (calendar)"),
            _("First response p90 (calendar)"),
            _("Resolution median"),
            _("SLA met: first response"),
            _("Replies per conversation"),
        ]
        source = _breakdown_source(kind, scope)
        if source is None:
            return Panel(
                kind,
                BREAKDOWN_TITLES[kind],
                columns,
                [],
                note=str(_("Shown on the manager dashboard only (not split per team).")),
                definitions=definitions,
            )
        stored, dims, groups = source
        split = scope.without_orphans
        stats = duration_stats(
            period,
            metrics=BREAKDOWN_DURATIONS,
            dim_kind=stored,
            dims=dims,
            without_orphans=split,
            groups=groups,
        )
        counted = ["frt_due", "frt_met", "responses"]
        if volume:
            counted += ["conversations", "inbound"]
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for (metric, dim), value in counters(
            period, metrics=counted, dim_kind=stored, dims=dims, without_orphans=split
        ).items():
            counts[(metric, groups[dim] if groups else dim)] += value
        keys = sorted({d for _, d in stats} | {d for _, d in counts})
        labels = _labels(kind, keys)
        entries = []
        for dim in keys:
            frt_cal = stats.get((DurationMetric.FRT_CALENDAR, dim))
            frt_bus = stats.get((DurationMetric.FRT_BUSINESS, dim))
            res = stats.get((DurationMetric.RESOLUTION_CALENDAR, dim))
            answered = frt_cal.count if frt_cal else 0
            row: list[Any] = [
                labels.get(dim, dim),
                *([counts[("conversations", dim)], counts[("inbound", dim)]] if volume else []),
                answered,
                _med(frt_bus),
                _p90(frt_bus),
                _med(frt_cal),
                _p90(frt_cal),
                _med(res),
                percent(counts[("frt_met", dim)], counts[("frt_due", dim)]),
                ratio(counts[("responses", dim)], answered),
            ]
            median = round((frt_cal.p50 or 0) / 60, 1) if frt_cal else 0
            entries.append((answered, row, median))
        entries.sort(key=lambda e: (-e[0], str(e[1][0])))
        rows = [row for _n, row, _m in entries]
        chart = {
            "type": "bar",
            "labels": [row[0] for _n, row, _m in entries[:15]],
            "datasets": [
                {
                    "label": str(_("First response median, calendar (minutes)")),
                    "data": [m for _n, _row, m in entries[:15]],
                }
            ],
        }
        return Panel(
            kind, BREAKDOWN_TITLES[kind], columns, rows, chart=chart, definitions=definitions
        )

    return build


def volume_panel(period: Period, scope: Scope) -> Panel:
    series = daily_series(period, metrics=["inbound", "responses"], scope=scope)
    days = period.day_list()
    labels = [date_format(d, "SHORT_DATE_FORMAT") for d in days]
    rows = [[labels[i], series["inbound"][i], series["responses"][i]] for i in range(len(days))]
    chart = {
        "type": "line",
        "labels": labels,
        "datasets": [
            {"label": str(_("Messages in")), "data": series["inbound"]},
            {"label": str(_("Responses")), "data": series["responses"]},
        ],
    }
    return Panel(
        "volume",
        _("Volume per day"),
        [_("Day"), _("Messages in"), _("Responses")],
        rows,
        chart,
        definitions=(*MESSAGE_DEFINITIONS, "automations-excluded"),
    )


WEEKDAYS = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


def heatmap_panel(period: Period, scope: Scope) -> Panel:
    grid = heatmap(period, scope=scope)
    peak = max((max(r) for r in grid), default=0) or 1
    rows = [[WEEKDAYS[i], *grid[i]] for i in range(7)]
    return Panel(
        "heatmap",
        _("Messages in by weekday and hour"),
        [_("Weekday"), *[f"{h:02d}" for h in range(24)]],
        rows,
        extra={
            "grid": [
                (WEEKDAYS[i], [(v, min(4, (5 * v) // (peak + 1))) for v in grid[i]])
                for i in range(7)
            ]
        },
        definitions=MESSAGE_DEFINITIONS,
    )


def backlog_panel(period: Period, scope: Scope) -> Panel:
    now, series = backlog(period, scope=scope)
    labels = [date_format(d, "SHORT_DATE_FORMAT") for d, _o, _v in series]
    chart = {
        "type": "line",
        "labels": labels,
        "datasets": [
            {"label": str(_("Open")), "data": [o for _d, o, _v in series]},
            {"label": str(_("Overdue")), "data": [v for _d, _o, v in series]},
        ],
    }
    rows = [[labels[i], o, v] for i, (_d, o, v) in enumerate(series)]
    return Panel(
        "backlog",
        _("Backlog"),
        [_("Day (end)"), _("Open"), _("Overdue")],
        rows,
        chart,
        extra={"now": now},
        definitions=("backlog",),
    )


def sentiment_panel(period: Period, scope: Scope) -> Panel:
    flag_metrics = [f"flag_{f.name.lower()}" for f in Flag if f.name]
    metrics = ["sentiment_negative", "sentiment_neutral", "sentiment_positive", *flag_metrics]
    series = daily_series(period, metrics=metrics, scope=scope)
    days = period.day_list()
    labels = [date_format(d, "SHORT_DATE_FORMAT") for d in days]
    flag_labels = Flag.labels()
    names = {
        "sentiment_negative": _("Negative"),
        "sentiment_neutral": _("Neutral"),
        "sentiment_positive": _("Positive"),
        **{f"flag_{f.name.lower()}": flag_labels[f] for f in Flag if f.name},
    }
    shown = [m for m in metrics if any(series[m]) or m.startswith("sentiment")]
    rows = [[labels[i], *[series[m][i] for m in shown]] for i in range(len(days))]
    chart = {
        "type": "line",
        "labels": labels,
        "datasets": [{"label": str(names[m]), "data": series[m]} for m in shown],
    }
    return Panel(
        "sentiment",
        _("Sentiment and flags of messages in"),
        [_("Day"), *[names[m] for m in shown]],
        rows,
        chart,
        definitions=MESSAGE_DEFINITIONS,
    )


def keywords_panel(period: Period, scope: Scope) -> Panel:
    rows = [[w, n] for w, n in top_keywords(period, scope=scope)]
    return Panel(
        "keywords",
        _("Top keywords"),
        [_("Word"), _("Messages")],
        rows,
        definitions=MESSAGE_DEFINITIONS,
    )


def spikes_panel(period: Period, scope: Scope) -> Panel:
    """The spike alerts of the period, newest first (at most 100), each linked to the crisis view."""
    alerts = (
        SpikeAlert.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
        .select_related("channel")
        .order_by("-created_at")[:100]
    )
    rows = [
        [
            date_format(timezone.localtime(a.window_start), "SHORT_DATETIME_FORMAT"),
            a.channel.name,
            a.keyword or "–",
            a.count,
            number_format(round(a.baseline, 1), 1),
        ]
        for a in alerts
    ]
    return Panel(
        "spikes",
        _("Spike alerts"),
        [_("Quarter hour"), _("Channel"), _("Keyword"), _("Messages"), _("Usual number")],
        rows,
    )


LABEL_DEFINITIONS = ("labels", "first-response", "percentiles", "orphan-starts", "periods")
# The trend's chart shows the busiest labels; its table (and CSV) has every one.
TREND_CHART_LABELS = 8


def _label_names(ids) -> dict[int, str]:
    return dict(Label.objects.filter(pk__in=list(ids)).values_list("id", "name"))


def _duration(seconds: float | None) -> Duration | str:
    return "–" if seconds is None else Duration(seconds)


def labels_panel(period: Period, scope: Scope) -> Panel:
    """Per label: conversations that arrived in the period with it, answered, first response."""
    figures, _weeks = label_figures(period, scope=scope)
    names = _label_names(figures)
    order = sorted(figures, key=lambda pk: (-figures[pk].conversations, names.get(pk, "")))
    rows: list[list[Any]] = [
        [
            names.get(pk, str(pk)),
            figures[pk].conversations,
            figures[pk].answered,
            _duration(figures[pk].p50),
            _duration(figures[pk].p90),
        ]
        for pk in order
    ]
    chart = {
        "type": "bar",
        "labels": [row[0] for row in rows[:15]],
        "datasets": [
            {"label": str(_("Conversations")), "data": [row[1] for row in rows[:15]]},
        ],
    }
    return Panel(
        "labels",
        _("By label"),
        [
            _("Label"),
            _("Conversations"),
            _("Answered"),
            _("First response median (calendar)"),
            _("First response p90 (calendar)"),
        ],
        rows,
        chart=chart,
        definitions=LABEL_DEFINITIONS,
    )


def label_trend_panel(period: Period, scope: Scope) -> Panel:
    """Conversations per label per local week (the week of their arrival): one row a week."""
    figures, weeks = label_figures(period, scope=scope, durations=False)
    names = _label_names(figures)
    order = sorted(figures, key=lambda pk: (-figures[pk].conversations, names.get(pk, "")))
    first = period.start.date()
    monday = first - timedelta(days=first.weekday())
    mondays = []
    while monday <= period.last_day:
        mondays.append(monday)
        monday += timedelta(days=7)
    titles = [date_format(m, "SHORT_DATE_FORMAT") for m in mondays]
    rows = [
        [titles[i], *[weeks.get(m, {}).get(pk, 0) for pk in order]] for i, m in enumerate(mondays)
    ]
    chart = {
        "type": "line",
        "labels": titles,
        "datasets": [
            {
                "label": names.get(pk, str(pk)),
                "data": [weeks.get(m, {}).get(pk, 0) for m in mondays],
            }
            for pk in order[:TREND_CHART_LABELS]
        ],
    }
    return Panel(
        "label_trend",
        _("Labels per week"),
        [_("Week of"), *[names.get(pk, str(pk)) for pk in order]],
        rows,
        chart=chart,
        definitions=LABEL_DEFINITIONS,
    )


PANELS: dict[str, Callable[[Period, Scope], Panel]] = {
    "response": response_panel,
    "department": breakdown_panel(DimKind.DEPARTMENT),
    "channel": breakdown_panel(DimKind.CHANNEL),
    "agent": breakdown_panel(DimKind.AGENT),
    "language": breakdown_panel(DimKind.LANGUAGE),
    "visibility": breakdown_panel(DimKind.VISIBILITY),
    CHANNEL_KIND: breakdown_panel(CHANNEL_KIND),
    "volume": volume_panel,
    "heatmap": heatmap_panel,
    "backlog": backlog_panel,
    "sentiment": sentiment_panel,
    "keywords": keywords_panel,
    "spikes": spikes_panel,
    "labels": labels_panel,
    "label_trend": label_trend_panel,
}
