"""python manage.py backfill CHANNEL --since DATE: fetch history from a channel and ingest it.

Calls the channel's connector page by page from a cursor that asks for messages
since DATE (connectors read cursor["since"], an ISO date) and feeds every page
to the same ingest service the poll task uses. Replays are harmless (unique
(channel, external_id)); the channel's live cursor is not touched.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from inbox.models import Channel


class Command(BaseCommand):
    help = "Fetch a channel's messages since a date and ingest them (with a progress bar)."

    def add_arguments(self, parser):
        parser.add_argument("channel", help="channel id or exact name")
        parser.add_argument("--since", required=True, help="YYYY-MM-DD or an ISO datetime")
        parser.add_argument("--max-pages", type=int, default=10_000)

    def handle(self, *args, channel: str, since: str, max_pages: int, **options):
        from inbox.channels.base import ConnectorError
        from inbox.channels.registry import channel_config, get_connector
        from inbox.services.ingest import ingest_messages

        row = self._channel(channel)
        start = self._since(since)
        connector = get_connector(row.kind)
        config = channel_config(row)
        cursor: dict = {"since": start.isoformat(), "backfill": True}
        created = duplicates = 0
        with tqdm(
            desc=f"backfill {row.name}", unit="msg", disable=options["verbosity"] == 0
        ) as bar:
            for _ in range(max_pages):
                try:
                    page = connector.fetch(config, cursor)
                except ConnectorError as exc:
                    raise CommandError(f"{type(exc).__name__}: {exc}") from exc
                if not page.messages:
                    break
                result = ingest_messages(channel=row, messages=page.messages)
                created += result.created
                duplicates += result.duplicates
                bar.update(len(page.messages))
                bar.set_postfix(created=created, duplicates=duplicates)
                if page.cursor == cursor:
                    break
                cursor = page.cursor
        self.stdout.write(f"{created} new messages, {duplicates} already stored")

    def _channel(self, value: str) -> Channel:
        qs = (
            Channel.objects.filter(pk=int(value))
            if value.isdigit()
            else Channel.objects.filter(name=value)
        )
        channel = qs.first()
        if channel is None:
            raise CommandError(f"No channel {value!r}")
        return channel

    def _since(self, value: str) -> datetime:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            if day is None:
                raise CommandError("--since must be YYYY-MM-DD or an ISO datetime")
            moment = datetime.combine(day, time.min)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
