"""Rebuild the "needs a reply" model (inbox/lib/assist/needs_reply_model.json).

    manage.py train_needs_reply                       # the shipped default, from REALWORLD_DATA_DIR
    manage.py train_needs_reply --from-handled --output /srv/webcare/needs_reply.json

The default is trained on the training part of the public TWCS conversations (the held-out part
is what bench/assist.py reports on) and is deterministic: the same data gives the same file.
--from-handled trains on the organisation's own handled conversations (answered versus closed
without reply); point NEEDS_REPLY_MODEL at its output and restart the workers to use it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inbox.lib.assist.needs_reply import DEFAULT_MODEL
from inbox.lib.assist.training import TWCS_FILE, dumps, split, train, twcs_examples

# The lexical part of an organisation's model covers the languages it has this many examples in.
MIN_PER_LANGUAGE = 100
MIN_PER_KIND = 50


class Command(BaseCommand):
    help = 'Rebuild the "needs a reply" model from the public data or from handled conversations.'

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, default=DEFAULT_MODEL)
        parser.add_argument(
            "--from-handled",
            action="store_true",
            help="train on this organisation's handled conversations instead of the public data",
        )
        parser.add_argument("--limit", type=int, default=50_000, help="conversations to read")

    def handle(self, *args, output: Path, from_handled: bool, limit: int, **options):
        if from_handled:
            from inbox.services.assist import handled_examples

            examples = handled_examples(limit=limit)
            answered = sum(e.needs_reply for e in examples)
            if min(answered, len(examples) - answered) < MIN_PER_KIND:
                raise CommandError(
                    f"too few handled messages to learn from: {answered} answered and "
                    f"{len(examples) - answered} not answered (at least {MIN_PER_KIND} of each)"
                )
            counts = Counter(e.language for e in examples if e.language)
            languages = [lang for lang, n in counts.items() if n >= MIN_PER_LANGUAGE]
            data = train(examples, languages=languages, source="handled conversations")
        else:
            path = Path(settings.REALWORLD_DATA_DIR) / TWCS_FILE
            if not path.exists():
                raise CommandError(f"{path} not found (set REALWORLD_DATA_DIR)")
            training_part, _held_out = split(twcs_examples(path))
            data = train(training_part, languages=["en"], source=f"{TWCS_FILE} (training part)")
        output.write_text(dumps(data), encoding="utf-8")
        self.stdout.write(
            f"{output}: {data['examples']} messages ({data['answered']} answered), "
            f"{len(data['lexical']['weights'])} weights, languages {', '.join(data['languages'])}"
        )
