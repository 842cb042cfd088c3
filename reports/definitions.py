"""What the dashboard figures count, in words: one list, shown on the dashboard, on the
definitions page, and at the top of each CSV export (the lines that concern its panel).

Each definition is checked by a test of the same name in tests/reports/test_definitions.py,
which builds a small history, runs the real rollup task and reads the figure, so the words and
the figures cannot drift apart. Change a text here only together with that test.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


@dataclass(frozen=True)
class Definition:
    slug: str  # the anchor on the pages, and the name of its test
    term: str
    text: str


def definitions() -> list[Definition]:
    """Every definition, in the active language."""
    values = {"zone": settings.TIME_ZONE}
    entries = [
        (
            "inbound-volume",
            _("Messages in (volume)"),
            _(
                "Every message from a customer, counted in the hour and local day it was posted "
                "on the platform, by channel, team and language. Our own posts and replies are "
                "not counted here."
            ),
        ),
        (
            "first-response",
            _("First response time"),
            _(
                "From the customer's first message in a conversation to the first reply that a "
                "person sent (from the app, or from our own account on the platform). Counted "
                "once per conversation, in the local day of that reply."
            ),
        ),
        (
            "business-time",
            _("Business time and calendar time"),
            _(
                "Calendar time is the plain time on the clock. Business time counts only the "
                "opening hours of the business calendar of the conversation's team (its closures "
                "excluded, and Dutch public holidays when the calendar closes on them); a team "
                "without a calendar works 24/7, so both figures are equal for it."
            ),
        ),
        (
            "automations-excluded",
            _("Automatic messages"),
            _(
                "Automatic acknowledgements and other automations are never a response: they "
                "stop no clock and are not counted as replies."
            ),
        ),
        (
            "credited-to-sender",
            _("Per agent"),
            _(
                "A response time is credited to the agent who sent that reply, not to whoever "
                "holds the conversation now."
            ),
        ),
        (
            "next-response",
            _("Next response time"),
            _(
                "After the first response: from the customer's next message that is still "
                "unanswered to our next reply. A conversation reopened because the customer "
                "wrote again counts here, as a next response, never as a new first response."
            ),
        ),
        (
            "resolution",
            _("Resolution time"),
            _(
                "From the customer's first message to the first time the conversation was "
                "closed, counted in the local day of the close and credited to the assignee at "
                "that moment."
            ),
        ),
        (
            "sla-compliance",
            _("SLA met"),
            _(
                "Of the responses (or closes) that had a due time from an SLA policy, the share "
                "made at or before that due time. Responses without a due time are left out of "
                "the share."
            ),
        ),
        (
            "replies-per-conversation",
            _("Replies per conversation"),
            _(
                "Replies sent by people in the period divided by the conversations that got "
                "their first response in the period."
            ),
        ),
        (
            "backlog",
            _("Backlog"),
            _(
                "Conversations that are open (new, triaged, assigned, answered or waiting on the "
                "customer) and, of those, the ones whose SLA is overdue; sampled every minute, "
                "the last sample of each day is shown."
            ),
        ),
        (
            "percentiles",
            _("Median and p90"),
            _(
                "Nearest rank: of n durations sorted from short to long, the median is the one "
                "at place n/2 and the p90 the one at place 0.9 × n (rounded up). They are read "
                "from histograms (a sketch) and are within 0.5%% of the exact value; durations "
                "under half a second count as 0."
            ),
        ),
        (
            "orphan-starts",
            _("Conversations that start with a reply to a message not in the inbox"),
            _(
                "A conversation whose first message replies to a message that was not in the "
                "inbox when the reply came in, as when a sample or a newly connected channel "
                "begins in the middle of a thread: its clocks start in the middle of the "
                "conversation (also if the missing message turns up later). Such conversations "
                "are counted unless you choose to leave them out; then response times, SLA met, "
                "answered conversations and replies per conversation are counted without them, "
                "and the dashboard says how many conversations that started in the period were "
                "left out. Volume per day, the weekday and hour grid, backlog, sentiment and "
                "keywords always count every message."
            ),
        ),
        (
            "labels",
            _("Labels"),
            _(
                "Conversations are counted under each label they have now, in the local day "
                "(and week, from Monday) the customer's first message arrived; a label taken "
                "off is no longer counted. For a team: under the team the conversation was in "
                "when its label was first counted. Answered and the first response times are "
                "those of the first-response definition, for these conversations; median and "
                "p90 are read like every duration (see Median and p90)."
            ),
        ),
        (
            "public-private",
            _("Public and private, channel kind"),
            _(
                "A conversation is public (a mention, a comment) or private (a direct message, a "
                "WhatsApp chat) as a whole, as its first message was: all its figures "
                "count under that. A private chat opened from a public mention is a conversation "
                "of its own and counts as private; the mention stays public. By channel kind "
                "adds up the figures of the channels of each kind."
            ),
        ),
        (
            "periods",
            _("Periods"),
            _(
                "A period is a number of whole days in the %(zone)s time zone ending today (or "
                "the days you pick); it is compared with the same number of days just before it. "
                "Figures are refreshed every minute."
            ),
        ),
    ]
    return [Definition(slug, term, text % values) for slug, term, text in entries]


def definitions_for(slugs) -> list[Definition]:
    """The definitions named by slugs, in the order of the list."""
    wanted = set(slugs)
    return [d for d in definitions() if d.slug in wanted]


def orphan_note(counts, *, excluded: bool) -> str:
    """What the orphan filter leaves out (or would), for the dashboard and the CSV exports.

    counts: a reports.selectors.OrphanStarts of the period and scope shown.
    """
    values = {"n": number_format(counts.orphans), "total": number_format(counts.started)}
    if excluded:
        text = ngettext(
            "%(n)s conversation excluded (started with a reply to a message not in the inbox), "
            "of %(total)s that started in this period.",
            "%(n)s conversations excluded (started with a reply to a message not in the inbox), "
            "of %(total)s that started in this period.",
            counts.orphans,
        )
    else:
        text = ngettext(
            "%(n)s of %(total)s conversations that started in this period began with a reply to "
            "a message not in the inbox; it is included.",
            "%(n)s of %(total)s conversations that started in this period began with a reply to "
            "a message not in the inbox; they are included.",
            counts.orphans,
        )
    return text % values


def export_notes(panel, period, scope) -> list[str]:
    """The lines above a panel's CSV table: what, when, which teams, the definitions its figures
    follow and, for conversation figures, what the orphan filter left out."""
    from reports.panels import Duration
    from reports.selectors import orphan_starts
    from routing.models import Department

    lines = [
        _("%(title)s: %(first)s to %(last)s, whole days in the %(zone)s time zone.")
        % {
            "title": panel.title,
            "first": period.start.date().isoformat(),
            "last": period.last_day.isoformat(),
            "zone": settings.TIME_ZONE,
        }
    ]
    if scope.is_team:
        names = Department.objects.filter(pk__in=scope.departments).order_by("name")
        lines.append(_("Teams: %(names)s.") % {"names": ", ".join(n.name for n in names)})
    lines += [f"{d.term}: {d.text}" for d in definitions_for(panel.definitions)]
    if any(isinstance(value, Duration) for row in panel.rows for value in row):
        lines.append(_("Durations are in whole seconds (the columns marked [s])."))
    if panel.counts_conversations:
        lines.append(
            orphan_note(orphan_starts(period, scope=scope), excluded=scope.without_orphans)
        )
    return lines


def crisis_export_notes() -> list[str]:
    return [
        _(
            "Messages in per minute over the last two hours, counted from the messages "
            "themselves (every customer message, in the minute it was posted), with the channel "
            "and keyword the crisis view was filtered on."
        )
    ]
