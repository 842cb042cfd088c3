"""What the privacy tests share: the PostgreSQL-only mark and one person's data to erase."""

import pytest
from django.db import connection

# The audit log's append-only trigger (and its narrow scrub path) exist on PostgreSQL only.
POSTGRES_ONLY = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the audit trigger exists on PostgreSQL only"
    ),
]

HANDLE = "pietjansen_020"
NAME = "Piet Jansen"
TEXT = "Mijn adres is Dorpsstraat 12, de verwarming doet het weer niet"
