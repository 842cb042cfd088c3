import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0005_slapolicy_failures"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReopenedHoliday",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "holiday",
                    models.CharField(
                        blank=True, default="", max_length=100, verbose_name="holiday, every year"
                    ),
                ),
                (
                    "date",
                    models.DateField(blank=True, null=True, verbose_name="or on this date only"),
                ),
                (
                    "calendar",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reopened_holidays",
                        to="routing.businesscalendar",
                    ),
                ),
            ],
            options={
                "verbose_name": "holiday we work on",
                "verbose_name_plural": "holidays we work on",
                "ordering": ["holiday", "date"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("holiday", ""), ("date__isnull", False)),
                            models.Q(
                                models.Q(("holiday", ""), _negated=True), ("date__isnull", True)
                            ),
                            _connector="OR",
                        ),
                        name="reopened_holiday_name_or_date",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("holiday", ""), _negated=True),
                        fields=("calendar", "holiday"),
                        name="reopened_holiday_unique_name",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("date__isnull", False)),
                        fields=("calendar", "date"),
                        name="reopened_holiday_unique_date",
                    ),
                ],
            },
        ),
    ]
