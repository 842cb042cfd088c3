from django.conf import settings
from django.db import migrations, models

from webcare.migration_ops import AddIndexOnline


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("inbox", "0014_clear_non_web_urls"),
        ("routing", "0004_merge_inbox_ui"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(
                    ("department__isnull", False),
                    ("status__in", ["new", "triaged", "assigned", "answered", "waiting"]),
                ),
                fields=["department", "sla_due_at", "received_at", "id"],
                name="conv_team_queue_idx",
            ),
        ),
    ]
