from django.core.management.base import BaseCommand

from reports.rollup.run import reset_rollups, run_rollups


class Command(BaseCommand):
    help = "Forget all dashboard rollups and count the whole history again."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=20000)

    def handle(self, *args, batch_size, **options):
        reset_rollups()
        read = run_rollups(batch_size=batch_size)
        self.stdout.write(f"rebuilt rollups from {read} messages and events")
