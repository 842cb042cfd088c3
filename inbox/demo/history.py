"""The demo's last month, played through the paths a team's own days take.

A newcomer should open the dashboards and find a month of figures, not dashes. So seed_demo
plays one:

- Real customer-care conversations (twcs_head5000.csv, read in place from REALWORLD_DATA_DIR,
  only what a live connector would fetch, see inbox.channels.replay). Each thread keeps its real
  response times and moves to a moment of the last month, more often in office hours and on
  weekdays than at night. They enter through ingest_messages, as a channel's first poll would
  bring them, and routing rules of that channel forward them to the teams by topic.
- The team closes what it answered a few hours after the last message, and marks what nobody
  answered "no reply needed": through the same services as the buttons, with the clock set to
  the moment it happened (time-machine), so SLA clocks, audit events and resolution times agree.
  What arrived in the last day or so stays open: the backlog a team starts its day with.
- Four days ago, a letter of Woonstad's own went viral: the simulator stages the burst of
  comments under it, the spike detector runs through it as beat would have, and the team answers
  and closes it.
- Then the backlog snapshots of every past hour, and the rollups, so every panel has its month.

Everything is deterministic (seeded) and idempotent: a second run finds the history there, and
an interrupted one picks up where it stopped.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import time_machine
from django.db import transaction
from django.utils import timezone

from inbox.channels.base import IncomingMessage
from inbox.channels.registry import channel_config
from inbox.channels.replay import twcs_messages_by_brand, twcs_path
from inbox.channels.simulator import SimulatorConnector
from inbox.models import Channel, Conversation, NoReplyReason
from inbox.services.ingest import ingest_messages
from inbox.services.replies import close_conversation
from inbox.services.spikes import detect_spikes
from inbox.services.triage import bulk_triage
from reports.periods import local_zone
from reports.rollup.backlog import backfill_backlog
from reports.rollup.run import run_rollups
from routing.models import Department, RoutingRule
from webcare.accounts.models import User

SAMPLE_CHANNEL = "Real customer-care sample (TWCS, English)"
SEED = 2017
# How busy each local hour (0-23) and weekday (Monday first) is, relative to the busiest.
HOUR_WEIGHT = (
    *(0.12, 0.08, 0.06, 0.05, 0.05, 0.08, 0.25, 0.55, 0.85, 1.0, 1.0, 1.0),
    *(0.95, 0.95, 0.95, 0.9, 0.85, 0.8, 0.75, 0.8, 0.75, 0.6, 0.4, 0.22),
)
WEEKDAY_WEIGHT = (1.0, 1.0, 0.95, 0.95, 0.85, 0.5, 0.45)
# Open items a team starts its day with: what arrived this recently is not handled yet.
STILL_OPEN = timedelta(hours=30)
# The sample's English topics, to the demo's teams (team slug, keywords any of).
SAMPLE_RULES = (
    ("huur", ("refund", "charge", "bill", "payment", "paid", "money", "price", "fee", "credit")),
    ("reparaties", ("broken", "not working", "error", "fix", "crash", "outage", "wifi", "update")),
    ("wonen", ("rude", "staff", "driver", "store", "delivery", "package", "order", "noise")),
    ("communicatie", ("news", "article", "journalist", "reporter", "press")),
    ("klantenservice", ()),  # the rest
)


def seed_history(*, days: int, progress: Callable[[str], None] = print) -> None:
    """Play the last `days` days (see the module docstring).

    Safe to run again, and to resume after an interruption: the month is anchored to the
    first run's clock (kept on the sample channel), so every step finds what it did before.
    """
    if days <= 0:
        return
    if not twcs_path().exists():
        progress(f"History skipped: {twcs_path()} not found (REALWORLD_DATA_DIR).")
        return
    channel = _sample_channel()
    if channel.config.get("history_done"):
        return
    now = datetime.fromisoformat(channel.config["history_until"])
    start = now - timedelta(days=days)
    threads = _retimed_threads(start=start, end=now - timedelta(minutes=10))
    messages = [m for thread in threads.values() for m in thread]
    progress(f"History: {len(threads):,} real conversations ({len(messages):,} messages)...")
    ingest_messages(channel=channel, messages=messages)
    progress("History: the teams answer and close them, as it happened...")
    _handle_sample(channel, threads, now=now)
    progress("History: a letter that went viral four days ago, and its spike alert...")
    _viral_letter(now=now)
    progress("History: the backlog of every hour, and the dashboards' figures...")
    backfill_backlog(start=start, end=now)
    run_rollups()
    channel.config["history_done"] = True
    channel.save(update_fields=["config"])
    progress("History: done.")


def _sample_channel() -> Channel:
    """The sample's channel and its routing rules; the channel keeps the history's anchor."""
    with transaction.atomic():
        return _sample_channel_and_rules()


def _sample_channel_and_rules() -> Channel:
    channel, created = Channel.objects.get_or_create(
        name=SAMPLE_CHANNEL,
        defaults={
            # Replayed tweets on the simulated platform: never polled, and a reply a newcomer
            # sends to one of them is "posted" there (an X channel would need credentials).
            "kind": "simulator",
            "enabled": False,
            "config": {"history_until": timezone.now().replace(microsecond=0).isoformat()},
        },
    )
    if not created:
        return channel
    teams = {team.slug: team for team in Department.objects.all()}
    channel.reply_teams.set(teams.values())
    for order, (slug, keywords) in enumerate(SAMPLE_RULES, start=1):
        RoutingRule.objects.create(
            name=f"{SAMPLE_CHANNEL}: {teams[slug].name}",
            order=order,
            channel=channel,
            keywords=list(keywords),
            department=teams[slug],
            auto_forward=True,
        )
    return channel


def _retimed_threads(*, start: datetime, end: datetime) -> dict[str, list[IncomingMessage]]:
    """The sample's threads by the key ingest files them under, each moved whole to a moment
    of [start, end) drawn from the weekly rhythm (so its response times stay the real ones)."""
    messages = [m for brand in twcs_messages_by_brand().values() for m in brand]
    by_id = {m.external_id: m for m in messages}

    def thread_key(message: IncomingMessage) -> str:
        """The top of its reply chain; replies to a tweet outside the sample share that
        tweet's id, as ingest threads them."""
        seen = set()
        while message.parent_external_id in by_id and message.external_id not in seen:
            seen.add(message.external_id)
            message = by_id[message.parent_external_id]
        return message.parent_external_id or message.external_id

    threads: dict[str, list[IncomingMessage]] = defaultdict(list)
    for message in messages:
        threads[thread_key(message)].append(message)
    hours, weights = _weekly_rhythm(start, end)
    rng = random.Random(SEED)
    out = {}
    for key in sorted(threads, key=int):
        thread = sorted(threads[key], key=lambda m: (m.created_at, m.external_id))
        if all(m.is_own for m in thread):
            continue  # the brand's answer to a tweet the sample lacks: nobody to wait for
        first, span = thread[0].created_at, thread[-1].created_at - thread[0].created_at
        hour = rng.choices(hours, weights)[0] + timedelta(seconds=rng.randrange(3600))
        moved = hour - first
        if hour + span >= end:
            continue  # a thread longer than what is left of the month
        out[key] = [replace(m, created_at=m.created_at + moved) for m in thread]
    return out


def _weekly_rhythm(start: datetime, end: datetime) -> tuple[list[datetime], list[float]]:
    zone = local_zone()
    hours, weights = [], []
    hour = start.replace(minute=0, second=0)
    while hour < end:
        local = hour.astimezone(zone)
        hours.append(hour)
        weights.append(HOUR_WEIGHT[local.hour] * WEEKDAY_WEIGHT[local.weekday()])
        hour += timedelta(hours=1)
    return hours, weights


def _handle_sample(channel: Channel, threads: dict[str, list[IncomingMessage]], *, now: datetime):
    """Close what the brand answered, a few hours after the last message, by someone of the
    team; mark what nobody answered "no reply needed" (coordinator, in bulk, two hours on).
    What is younger than STILL_OPEN stays open."""
    rng = random.Random(SEED + 1)
    coordinator = User.objects.get(username="coordinator")
    closers = _team_closers(coordinator)
    answered = {key for key, thread in threads.items() if any(m.is_own for m in thread)}
    last_message = {key: thread[-1].created_at for key, thread in threads.items()}
    closes: list[tuple[datetime, Conversation]] = []
    unanswered: dict[datetime, list[Conversation]] = defaultdict(list)
    conversations = Conversation.objects.filter(channel=channel).select_related("channel")
    for conversation in conversations:
        key = conversation.thread_key
        if key not in last_message or not conversation.is_open:
            continue
        if key in answered:
            at = last_message[key] + timedelta(minutes=rng.randint(60, 6 * 60))
            if at < now - STILL_OPEN / 6:
                closes.append((at, conversation))
        elif conversation.received_at < now - STILL_OPEN:
            hour = (conversation.received_at + timedelta(hours=2)).replace(minute=0, second=0)
            unanswered[hour].append(conversation)
    for at, conversation in sorted(closes, key=lambda pair: pair[0]):
        with time_machine.travel(at, tick=False):
            close_conversation(
                conversation=conversation,
                acting_user=closers.get(conversation.department_id, coordinator),
            )
    reason = NoReplyReason.objects.get(label="Handled elsewhere")
    for hour, batch in sorted(unanswered.items()):
        with time_machine.travel(hour, tick=False):
            bulk_triage(
                action="no_reply",
                items={c.pk: c.version for c in batch},
                acting_user=coordinator,
                reason=reason,
            )


def _team_closers(fallback: User) -> dict[int | None, User]:
    """Per team, the first of its members (by name): who closes the team's conversations."""
    closers: dict[int | None, User] = {}  # a conversation without a team: None, not found
    for team in Department.objects.prefetch_related("members"):
        members = sorted(team.members.all(), key=lambda u: u.username)
        closers[team.pk] = members[0] if members else fallback
    return closers


def _viral_letter(*, now: datetime) -> None:
    """Woonstad's own letter, four days ago at 10:00: some 250 comments in 40 minutes, the spike
    detector every quarter hour as beat runs it, an apology from the team, closed at 14:00."""
    # The demo stream: the simulator channel that plays no platform (the letter went viral on
    # our public timeline, not in a WhatsApp chat). Channels are ordered by name, so pick by id.
    simulator_channel = next(
        (
            channel
            for channel in Channel.objects.filter(kind="simulator", enabled=True).order_by("pk")
            if not channel.simulated_platform
        ),
        None,
    )
    if simulator_channel is None:
        return
    day = (now - timedelta(days=4)).astimezone(local_zone())
    start = day.replace(hour=10, minute=0, second=0, microsecond=0)
    burst = SimulatorConnector().staged_burst(
        channel_config(simulator_channel), start=start, minutes=40, per_minute=6.0
    )
    root = burst[0]
    apology = IncomingMessage(
        external_id=f"{root.external_id}-apology",
        parent_external_id=root.external_id,
        conversation_external_id=root.conversation_external_id,
        text=(
            "Onze excuses voor deze brief: de toon was verkeerd. Heeft u vragen over uw eigen "
            "situatie? Stuur ons een privébericht, we reageren vandaag nog. Team Woonstad"
        ),
        created_at=start + timedelta(minutes=55),
        author_id=root.author_id,
        author_handle=root.author_handle,
        author_name=root.author_name,
        is_own=True,
    )
    coordinator = User.objects.get(username="coordinator")
    for quarter in range(1, 4):
        # As it happened: each quarter's comments arrive, then beat's spike detector runs.
        at = start + timedelta(minutes=15 * quarter)
        with time_machine.travel(at, tick=False):
            since = at - timedelta(minutes=15)
            arrived = [m for m in burst if since < m.created_at <= at or m is root]
            ingest_messages(channel=simulator_channel, messages=arrived)
            detect_spikes(now=at)
        letter = Conversation.objects.get(
            channel=simulator_channel, thread_key=root.conversation_external_id
        )
        if letter.department_id is None:  # the coordinator hands it to Communicatie at once
            with time_machine.travel(at + timedelta(minutes=1), tick=False):
                bulk_triage(
                    action="forward",
                    items={letter.pk: letter.version},
                    acting_user=coordinator,
                    department=Department.objects.get(slug="communicatie"),
                )
    with time_machine.travel(apology.created_at + timedelta(minutes=1), tick=False):
        ingest_messages(channel=simulator_channel, messages=[apology])
    letter.refresh_from_db()
    with time_machine.travel(start + timedelta(hours=4), tick=False):
        close_conversation(
            conversation=letter, acting_user=User.objects.get(username="woordvoerder")
        )
