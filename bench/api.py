"""Benchmark: the REST API's conversation list at 1,000,000 conversations, beside the HTML inbox.

    python bench/api.py [--n 1000000] [--runs 50]

Uses bench/inbox.py's database (`webcare_bench_inbox`, 1,000,000 conversations and about
5,000,000 messages; loaded there the first time, reused after). Times, through Django's test
client in this process (server time, no network), with bearer tokens as an integration sends
them: the API list first page (a coordinator's token and a staff token limited to the person's
team), a filtered page (department + status), a deep cursor page (~200,000 rows down), a
full-text search and one conversation's detail; and, in the same run, the HTML inbox first page
(the page a coordinator opens) and the bare SQL of the first page as baselines. Median and p95
over --runs runs, with the median CPU time of this process (which the machine's load moves far
less). Prints `RESULT api_p95_ms=... html_p95_ms=... ratio_api_html=...` as its last line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ensure_database  # noqa: E402
from bench.inbox import BENCH_DB, _bench_url, _setup_django, _sizes, _time, load  # noqa: E402


def _tokens():
    """A coordinator's and a staff member's write tokens, without a rate limit that a benchmark
    would hit (the limit is per token and per minute)."""
    from api import tokens
    from api.models import ApiToken, TokenScope
    from routing.models import Department, Membership
    from webcare.accounts.models import User

    coord, _ = User.objects.get_or_create(username="bench-coord", defaults={"role": "coordinator"})
    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"role": "staff"})
    team = Department.objects.order_by("id").first()
    Membership.objects.get_or_create(user=staff, department=team)
    ApiToken.objects.filter(user__in=[coord, staff]).delete()
    _, coord_raw = tokens.create_personal_token(user=coord, name="bench", scope=TokenScope.WRITE)
    _, staff_raw = tokens.create_personal_token(
        user=staff, name="bench", scope=TokenScope.READ, teams=[team]
    )
    ApiToken.objects.filter(user__in=[coord, staff]).update(rate_per_minute=10_000_000)
    return coord, coord_raw, staff_raw, team


def measure(runs: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from api.serializers.conversations import encode_cursor
    from inbox.models import OPEN_STATUSES
    from inbox.selectors import inbox as selectors

    coord, coord_raw, staff_raw, team = _tokens()
    api, staff_api, html = APIClient(), APIClient(), Client()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {coord_raw}")
    staff_api.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_raw}")
    html.force_login(coord)
    list_url = reverse("api:conversation-list")

    def get(client, path, expect_rows=True, **params):
        def run(i=0):
            response = client.get(path, params)
            assert response.status_code == 200, (response.status_code, response.content[:300])
            if expect_rows:
                assert response.json()["results"], "an empty page measures nothing"
            return response

        return run

    results = {}
    results["html"] = _time(
        "HTML inbox first page", get(html, reverse("inbox:inbox"), expect_rows=False), runs
    )
    results["api"] = _time("API list first page (coordinator)", get(api, list_url), runs)
    results["staff"] = _time("API list first page (staff token)", get(staff_api, list_url), runs)
    results["filtered"] = _time(
        "API filtered (department+status)",
        get(api, list_url, department=team.pk, status="triaged"),
        runs,
    )
    # The keyset of a row ~200,000 rows down the open conversations, as a `next` link holds it.
    qs = selectors.conversations_visible_to(coord).filter(status__in=OPEN_STATUSES)
    deep = qs.order_by("-received_at", "-id").values_list("received_at", "id")[200_000:200_001]
    cursor = encode_cursor(deep[0]) if deep else ""
    results["deep"] = _time(
        "API deep cursor page (~200,000 down)", get(api, list_url, cursor=cursor), runs
    )
    results["search"] = _time(
        "API full-text search 'lekkage'", get(api, list_url, q="lekkage"), runs
    )
    first_id = api.get(list_url, {"limit": 1}).json()["results"][0]["id"]
    results["detail"] = _time(
        "API one conversation's detail",
        get(api, reverse("api:conversation-detail", args=[first_id]), expect_rows=False),
        runs,
    )
    sql, params = qs.order_by("-received_at", "-id")[:51].query.sql_with_params()

    def bare(i=0):
        with connection.cursor() as cur:
            cur.execute(sql, params)
            cur.fetchall()

    results["sql"] = _time("bare SQL of the first page", bare, runs)
    load1, load5, _ = os.getloadavg()
    print(
        f"(machine load average during the run: {load1:.1f} / {load5:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"RESULT api_p95_ms={results['api']:.1f} staff_p95_ms={results['staff']:.1f} "
        f"filtered_p95_ms={results['filtered']:.1f} deep_p95_ms={results['deep']:.1f} "
        f"search_p95_ms={results['search']:.1f} detail_p95_ms={results['detail']:.1f} "
        f"html_p95_ms={results['html']:.1f} sql_p95_ms={results['sql']:.1f} "
        f"ratio_api_html={results['api'] / results['html']:.2f} "
        f"ratio_api_sql={results['api'] / results['sql']:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="conversations")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    url = ensure_database(_bench_url(), BENCH_DB)
    _setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        convs, msgs = _sizes(cur)
    if convs != args.n or abs(msgs - 5 * args.n) > 0.02 * 5 * args.n:
        load(args.n)
    else:
        print(f"reusing {BENCH_DB}: {convs:,} conversations, ~{msgs:,} messages", flush=True)
    measure(args.runs)


if __name__ == "__main__":
    main()
