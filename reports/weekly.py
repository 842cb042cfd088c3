"""The weekly report: last week's figures (Monday to Sunday, local time), on a page fit to print and
e-mailed to every manager on Monday morning, once per week (WeeklyReportSent is the guard)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from reports.models import WeeklyReportSent
from reports.panels import PANELS
from reports.periods import Period, local_zone, midnight
from reports.selectors import Scope
from webcare.accounts.models import User

REPORT_PANELS = (
    "response",
    "department",
    "channel",
    "channel_kind",
    "visibility",
    "volume",
    "backlog",
)


def last_week(today: date | None = None) -> Period:
    today = today or timezone.localdate(timezone=local_zone())
    monday = today - timedelta(days=today.weekday() + 7)
    return Period(midnight(monday), midnight(monday + timedelta(days=7)), 7)


def report_context(today: date | None = None) -> dict:
    period = last_week(today)
    return {
        "period": period,
        "last_day": period.end.date() - timedelta(days=1),
        "panels": [PANELS[name](period, Scope()) for name in REPORT_PANELS],
    }


SEND_FROM_HOUR = 8  # Monday 08:00 local time


def send_weekly_report(today: date | None = None, *, now: datetime | None = None) -> int:
    """E-mail last week's report to the managers; a second call in the same week sends nothing.

    Beat calls this hourly on Mondays (UTC); before 08:00 local time it waits for the next call.
    """
    if today is None:
        local = (now or timezone.now()).astimezone(local_zone())
        if local.weekday() != 0 or local.hour < SEND_FROM_HOUR:
            return 0
        today = local.date()
    context = report_context(today)
    week_start = context["period"].start.date()
    managers = list(
        User.objects.filter(role="manager", is_active=True).exclude(email="").order_by("id")
    )
    try:
        with transaction.atomic():
            WeeklyReportSent.objects.create(week_start=week_start, recipients=len(managers))
    except IntegrityError:
        return 0  # already sent this week (beat fired twice, or a worker retried)
    if not managers:
        return 0
    subject = _("Webcare weekly report, week of %(day)s") % {"day": week_start.isoformat()}
    body = render_to_string("reports/weekly_email.txt", context)
    html = render_to_string("reports/weekly_body.html", context)
    for user in managers:
        send_mail(subject, body, None, [user.email], html_message=html)
    return len(managers)


__all__ = ["last_week", "report_context", "send_weekly_report"]
