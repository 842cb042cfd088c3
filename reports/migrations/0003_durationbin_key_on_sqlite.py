# The duration bins' unique key with INCLUDE was skipped entirely on SQLite (no covering
# indexes), so the rollup's INSERT ... ON CONFLICT failed there. The same key, rebuilt with a
# constraint that keeps INCLUDE on PostgreSQL and drops only INCLUDE elsewhere.

from django.db import migrations

import webcare.db


class Migration(migrations.Migration):
    dependencies = [("reports", "0002_percentile_probes")]

    operations = [
        migrations.RemoveConstraint(model_name="durationbin", name="durationbin_key"),
        migrations.AddConstraint(
            model_name="durationbin",
            constraint=webcare.db.CoveringUniqueConstraint(
                fields=("dim_kind", "granularity", "start", "metric", "dim", "bin"),
                include=("count",),
                name="durationbin_key",
            ),
        ),
    ]
