"""A believable demo organisation: a housing corporation with its teams, users, channels and mentions.

Idempotent: run it again and nothing is duplicated (users and teams by name, messages by external id).
"""

import csv
from datetime import time, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from inbox.channels.base import IncomingMessage
from inbox.demo.examples_nl import EXAMPLES
from inbox.demo.history import seed_history
from inbox.models import CannedAnswer, Channel, Flag
from inbox.services.ingest import ingest_messages
from routing.models import (
    BusinessCalendar,
    BusinessWindow,
    Department,
    Membership,
    RoutingRule,
    SlaPolicy,
)
from webcare.accounts.models import Role, User

DEMO_PASSWORD = "webcare-demo"

DEPARTMENTS = [
    ("klantenservice", "Klantenservice", "Algemene vragen, eerste lijn."),
    ("reparaties", "Reparaties & Onderhoud", "Storingen, lekkages, schimmel, onderhoud."),
    ("huur", "Huur & Betalingen", "Huurverhoging, incasso, betalingsregelingen, huurtoeslag."),
    ("wonen", "Wonen & Leefbaarheid", "Overlast, buurtbeheer, woningruil, leefbaarheid."),
    ("communicatie", "Communicatie/Woordvoering", "Pers, politiek en crisiscommunicatie."),
]

USERS = [
    # username, first, last, role, teams (slug, is_lead)
    ("coordinator", "Cora", "de Wit", Role.COORDINATOR, []),
    ("reparaties", "Ravi", "Pinas", Role.STAFF, [("reparaties", False)]),
    ("huur", "Hanna", "Bos", Role.STAFF, [("huur", False)]),
    ("teamleider", "Tim", "Leenders", Role.STAFF, [("reparaties", True), ("wonen", False)]),
    ("woordvoerder", "Wendy", "Vos", Role.STAFF, [("communicatie", True)]),
    ("manager", "Mila", "Mulder", Role.MANAGER, []),
    ("admin", "Ada", "Admin", Role.ADMIN, []),
]


# One simulated channel per platform the simulator plays (inbox/channels/simulator/platforms.py),
# so the demo inbox shows every kind: (platform, name, teams that may reply). Private chats and
# e-mail go to the teams that help tenants one to one, not to the spokespeople; every channel
# lets Reparaties answer, as the newcomer's smoke test forwards any new mention there.
CHAT_TEAMS = ["klantenservice", "reparaties", "huur", "wonen"]
ALL_TEAMS = [slug for slug, _name, _description in DEPARTMENTS]
SIMULATED_CHANNELS = [
    ("x", "X: vermeldingen (simulatie)", ALL_TEAMS),
    ("facebook", "Facebook-pagina (simulatie)", ALL_TEAMS),
    ("instagram", "Instagram-reacties (simulatie)", ALL_TEAMS),
    ("whatsapp", "WhatsApp Business (simulatie)", CHAT_TEAMS),
    ("messenger", "Messenger (simulatie)", CHAT_TEAMS),
    ("instagram_direct", "Instagram Direct (simulatie)", CHAT_TEAMS),
    ("x_dm", "X-privéberichten (simulatie)", CHAT_TEAMS),
    (
        "linkedin",
        "LinkedIn-bedrijfspagina (simulatie)",
        ["klantenservice", "reparaties", "communicatie"],
    ),
    ("youtube", "YouTube-kanaal (simulatie)", ALL_TEAMS),
    ("email", "E-mail klantenservice (simulatie)", CHAT_TEAMS),
]


class Command(BaseCommand):
    help = "Create the demo organisation (Woonstad), its users, channels and sample conversations."

    def add_arguments(self, parser):
        parser.add_argument(
            "--airline", type=int, default=40, help="English sample tweets from the real data"
        )
        parser.add_argument(
            "--history-days",
            type=int,
            default=30,
            help="days of history played in (real customer-care conversations); 0 for none",
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            teams = self._departments()
            self._users(teams)
            x_channel, simulator = self._channels(teams)
            # Policies and rules first: the sample mentions start their SLA clocks on ingest.
            self._sla(teams)
            self._routing_rules(teams)
            self._canned_answers(teams)
        created = self._dutch_examples(x_channel) + self._airline_examples(options["airline"])
        seed_history(days=options["history_days"], progress=self._progress)
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {created} new messages."))
        self.stdout.write("Log in with password " + DEMO_PASSWORD + " as:")
        for username, first, last, role, _teams in USERS:
            self.stdout.write(f"  {username:<13} {Role(role).label} ({first} {last})")

    def _progress(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _departments(self) -> dict[str, Department]:
        teams = {}
        for slug, name, description in DEPARTMENTS:
            teams[slug], _ = Department.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "description": description,
                    "escalation_email": f"{slug}@woonstad.example",
                },
            )
        return teams

    def _users(self, teams: dict[str, Department]) -> None:
        for username, first, last, role, memberships in USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "role": role,
                    "email": f"{username}@woonstad.example",
                    "is_staff": role == Role.ADMIN,
                    "is_superuser": role == Role.ADMIN,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            for slug, is_lead in memberships:
                Membership.objects.get_or_create(
                    user=user, department=teams[slug], defaults={"is_lead": is_lead}
                )

    def _channels(self, teams: dict[str, Department]) -> tuple[Channel, Channel]:
        x_channel, _ = Channel.objects.get_or_create(
            name="X @woonstad",
            defaults={
                # The sample mentions, on the simulated platform: never polled, and a reply a
                # newcomer sends is "posted" there (a real X channel needs API credentials).
                "kind": "simulator",
                "own_handles": ["woonstad"],
                "keywords": ["woonstad", "#woonstad"],
                "enabled": False,
            },
        )
        simulator, _ = Channel.objects.get_or_create(
            kind="simulator",
            name="Simulator (demo stream)",
            defaults={
                "own_handles": ["woonstad"],
                "keywords": ["woonstad"],
                "poll_interval_seconds": 10,
                "config": {"seed": 7, "rate_per_minute": 6},
            },
        )
        for channel in (x_channel, simulator):
            channel.reply_teams.set(teams.values())
        for platform, name, slugs in SIMULATED_CHANNELS:
            played, _ = Channel.objects.get_or_create(
                kind="simulator",
                name=name,
                defaults={
                    "own_handles": ["woonstad"],
                    "keywords": ["woonstad"],
                    "poll_interval_seconds": 60,
                    # A modest stream each (about one message in two minutes), so the inbox
                    # gets a mix of kinds beside the main stream; a short backlog, so ten first
                    # polls do not all write at the start, while the history plays in (SQLite).
                    "config": {
                        "seed": f"demo-{platform}",
                        "platform": platform,
                        "rate_per_minute": 0.5,
                        "backlog_minutes": 2,
                        "language_mix": {"nl": 0.7, "en": 0.3},
                    },
                },
            )
            played.reply_teams.set([teams[slug] for slug in slugs])
        return x_channel, simulator

    def _sla(self, teams: dict[str, Department]) -> None:
        office, created = BusinessCalendar.objects.get_or_create(
            name="Kantoortijden", defaults={"use_dutch_holidays": True}
        )
        if created:
            BusinessWindow.objects.bulk_create(
                BusinessWindow(calendar=office, weekday=day, start=time(8, 30), end=time(17, 0))
                for day in range(5)
            )
        around_the_clock, _ = BusinessCalendar.objects.get_or_create(
            name="Webcare 24/7", defaults={"is_24_7": True}
        )
        for slug, team in teams.items():
            if team.calendar_id is None and slug != "communicatie":
                team.calendar = office
                team.save(update_fields=["calendar"])
        SlaPolicy.objects.get_or_create(
            name="Urgent: threats and press",
            defaults={
                "order": 10,
                "flags_any": int(Flag.THREAT | Flag.PRESS),
                "first_response_minutes": 15,
                "next_response_minutes": 30,
                "resolution_minutes": 8 * 60,
                "calendar": around_the_clock,
            },
        )
        SlaPolicy.objects.get_or_create(
            name="Standaard webcare",
            defaults={
                "order": 100,
                "first_response_minutes": 60,
                "next_response_minutes": 120,
                "resolution_minutes": 2 * 8 * 60,
            },
        )

    def _routing_rules(self, teams: dict[str, Department]) -> None:
        rules = [
            (
                "Storingen en onderhoud",
                ["lekkage", "cv-ketel", "lift", "schimmel", "storing", "dak"],
                "reparaties",
                None,
            ),
            (
                "Huur en betalingen",
                ["huur", "incasso", "betalingsregeling", "huurverhoging"],
                "huur",
                None,
            ),
            ("Overlast en buurt", ["overlast", "buren", "container", "woningruil"], "wonen", None),
            ("Pers", ["artikel", "journalist", "verslaggever"], "communicatie", 3),
        ]
        # Ordered from 10 up: the history's sample channel has rules of its own before these.
        for order, (name, keywords, slug, priority) in enumerate(rules, start=1):
            RoutingRule.objects.get_or_create(
                name=name,
                defaults={
                    "order": 10 * order,
                    "keywords": keywords,
                    "department": teams[slug],
                    "set_priority": priority,
                },
            )

    def _canned_answers(self, teams: dict[str, Department]) -> None:
        answers = [
            (
                "reparaties",
                "Storing cv-ketel",
                "ketel",
                "Wat vervelend, {{contact_name}}! Wil je je adres en telefoonnummer in een privébericht sturen? "
                "Dan plannen we vandaag nog een monteur in. Groet, {{agent_name}}",
            ),
            (
                "reparaties",
                "Lekkage spoed",
                "lekkage",
                "Bij lekkage kun je 24/7 ons storingsnummer 088-1234567 bellen, dan komt er snel iemand langs.",
            ),
            (
                "huur",
                "Vraag over huurverhoging",
                "huurverhoging",
                "Hoi {{contact_name}}, we zoeken het voor je uit. Stuur je je huurnummer in een privébericht?",
            ),
            (
                "klantenservice",
                "Bedankt",
                "bedankt",
                "Dank je wel voor je bericht, {{contact_name}}! Fijn om te horen.",
            ),
        ]
        for slug, title, shortcut, body in answers:
            CannedAnswer.objects.get_or_create(
                department=teams[slug],
                shortcut=shortcut,
                defaults={"title": title, "body": body, "language": "nl"},
            )

    def _dutch_examples(self, channel: Channel) -> int:
        now = timezone.now()
        messages = []
        for index, (handle, name, text, minutes_ago, replies) in enumerate(EXAMPLES):
            root_id = f"demo-nl-{index}"
            messages.append(
                IncomingMessage(
                    external_id=root_id,
                    conversation_external_id=root_id,
                    text=text,
                    created_at=now - timedelta(minutes=minutes_ago),
                    author_id=f"demo-{handle}",
                    author_handle=handle,
                    author_name=name,
                    url=f"https://x.com/{handle}/status/{root_id}",
                )
            )
            parent = root_id
            for reply_index, (reply_handle, reply_text, reply_minutes) in enumerate(replies):
                reply_id = f"{root_id}-r{reply_index}"
                own = reply_handle == "woonstad"
                messages.append(
                    IncomingMessage(
                        external_id=reply_id,
                        parent_external_id=parent,
                        conversation_external_id=root_id,
                        text=reply_text,
                        created_at=now - timedelta(minutes=reply_minutes),
                        author_id="woonstad" if own else f"demo-{reply_handle}",
                        author_handle=reply_handle,
                        author_name="Woonstad" if own else name,
                        is_own=own,
                    )
                )
                parent = reply_id
        return ingest_messages(channel=channel, messages=messages).created

    def _airline_examples(self, limit: int) -> int:
        """English mentions from the real airline data set (read in place, never copied)."""
        path = settings.REALWORLD_DATA_DIR / "twitter_us_airline_sentiment.csv"
        if limit <= 0 or not path.exists():
            return 0
        channel, _ = Channel.objects.get_or_create(
            name="X @airline (English sample)",
            # Simulated, as the Dutch samples (see _channels): replies to them are "posted".
            defaults={"kind": "simulator", "enabled": False, "own_handles": ["airline"]},
        )
        now = timezone.now()
        messages = []
        with path.open(newline="", encoding="utf-8") as handle:
            for index, row in enumerate(csv.DictReader(handle)):
                if index >= limit:
                    break
                tweet_id = row.get("tweet_id") or f"airline-{index}"
                author = f"traveller{index % 25}"  # the data set has no author column
                messages.append(
                    IncomingMessage(
                        external_id=f"airline-{tweet_id}",
                        conversation_external_id=f"airline-{tweet_id}",
                        text=row.get("text", ""),
                        created_at=now - timedelta(minutes=7 * index + 3),
                        author_id=f"airline-{author}",
                        author_handle=author,
                        author_name=author,
                    )
                )
        return ingest_messages(channel=channel, messages=messages).created
