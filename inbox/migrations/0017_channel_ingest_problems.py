from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0016_conversationevent_append_only_sqlite"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="ingest_problem_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="channel",
            name="last_ingest_problem",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="channel",
            name="last_ingest_problem_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
