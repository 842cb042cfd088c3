"""The demo's last month (inbox.demo.history): real customer-care conversations, handled.

README command 1 runs it in the background once the demo organisation exists, so the inbox
answers at once and the dashboards fill up while it plays; `seed_demo` runs it itself.
"""

from django.core.management.base import BaseCommand

from inbox.demo.history import seed_history


class Command(BaseCommand):
    help = "Play the demo's history: a month of real customer-care conversations, handled."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="how many days back")

    def handle(self, *args, **options):
        seed_history(days=options["days"], progress=self._progress)

    def _progress(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
