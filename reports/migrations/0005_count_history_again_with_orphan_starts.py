# The rollups counted so far have no figures without orphan starts (conversations whose first
# message replies to a message the inbox did not have) and no orphan_start on their clocks.
# They are forgotten, as reports.rollup.reset_rollups does, so the next run of the beat task
# counts the history again from the first message, with the split. Backlog snapshots stay (they
# cannot be counted again). On a large database, run `manage.py rebuild_rollups` right after
# migrating: it does the same count at once, in bigger batches.

from django.db import migrations

ROLLUP_MODELS = (
    "CountRollup",
    "DurationBin",
    "KeywordCount",
    "ConversationClock",
    "RollupWatermark",
    "WindowBin",
    "WindowTotal",
    "WindowCount",
)


def forget_rollups(apps, schema_editor):
    for name in ROLLUP_MODELS:
        apps.get_model("reports", name).objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0004_conversationclock_orphan_start"),
    ]

    operations = [
        migrations.RunPython(forget_rollups, migrations.RunPython.noop),
    ]
