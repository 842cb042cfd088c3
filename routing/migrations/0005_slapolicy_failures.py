from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0004_merge_inbox_ui"),
    ]

    operations = [
        migrations.AddField(
            model_name="slapolicy",
            name="failure_count",
            field=models.PositiveIntegerField(default=0, editable=False, verbose_name="failures"),
        ),
        migrations.AddField(
            model_name="slapolicy",
            name="last_failure",
            field=models.TextField(
                blank=True, default="", editable=False, verbose_name="last failure"
            ),
        ),
        migrations.AddField(
            model_name="slapolicy",
            name="last_failure_at",
            field=models.DateTimeField(editable=False, null=True, verbose_name="last failure at"),
        ),
    ]
