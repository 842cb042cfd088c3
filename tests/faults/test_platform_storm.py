"""A storm of platform 5xx and 429 answers, then recovery, with no person involved.

The real RSS connector polls a loopback feed server that answers a scripted run of
503/502/429 before it serves the feed again. The test drives the dispatcher and the poll
the way beat does, at the moments the channel's own next_poll_at names: the backoff shows
in the channel's health, nothing is fetched before it is due, the cursor survives every
failure and the channel is back to ok on the first good answer.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.utils import timezone

from inbox.models import Channel, ChannelStatus, Message
from inbox.services.channels import DEFAULT_RATE_LIMIT_WAIT, dispatch_due_polls, poll_channel_once
from tests.factories import ChannelFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Woonstad</title><link>https://example.org/</link>
<item><guid>post-1</guid><title>Lekkage</title><description>Woonstad, lekkage in de hal</description>
<link>https://example.org/1</link><pubDate>Sun, 22 Nov 2026 10:00:00 GMT</pubDate></item>
<item><guid>post-2</guid><title>Lift</title><description>Woonstad, de lift is stuk</description>
<link>https://example.org/2</link><pubDate>Sun, 22 Nov 2026 10:05:00 GMT</pubDate></item>
</channel></rss>"""


class FeedServer:
    """Answers the next scripted status per GET (200 = the feed, with a new ETag)."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(dict(self.headers))
                status, headers = server.script.pop(0) if server.script else (200, {})
                body = FEED if status == 200 else b"busy"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status == 200:
                    self.send_header("ETag", '"v2"')
                    self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/feed.xml"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed():
    server = FeedServer(
        [
            (503, {}),
            (502, {}),
            (500, {}),
            (429, {"Retry-After": "120"}),
            (503, {}),
            (429, {}),  # no reset named: the default wait
        ]
    )
    yield server
    server.close()


def test_a_storm_of_5xx_and_429_backs_off_and_recovers_alone(feed):
    channel = ChannelFactory(
        kind="rss",
        poll_interval_seconds=60,
        config={"feed_url": feed.url, "all_entries": True},
        cursor={"etag": '"v1"'},
    )
    now = timezone.now()
    seen = []  # (status, consecutive_failures, wait until the next poll)

    for _ in range(7):
        # Just before it is due, the dispatcher leaves the channel alone (the backoff holds).
        channel.refresh_from_db()
        if channel.next_poll_at is not None:
            assert channel.pk not in dispatch_due_polls(
                now=channel.next_poll_at - timedelta(seconds=1)
            )
            now = channel.next_poll_at
        assert dispatch_due_polls(now=now) == [channel.pk]
        # The clock moves (Retry-After is read against it), frozen while the poll runs.
        with time_machine.travel(now, tick=False):
            outcome = poll_channel_once(channel_id=channel.pk)
        channel.refresh_from_db()
        seen.append((outcome.status, channel.consecutive_failures, channel.next_poll_at - now))
        if outcome.status != "ok":
            # The cursor of the last good poll survives every failure.
            assert channel.cursor == {"etag": '"v1"'}
            assert channel.last_error and channel.last_error_at == now
            assert channel.poll_claimed_until is None  # the lease is released after a failure

    minute = timedelta(seconds=60)
    assert seen == [
        ("failed", 1, 2 * minute),  # exponential: interval x 2^failures
        ("failed", 2, 4 * minute),
        ("failed", 3, 8 * minute),
        # A 429 is not a failure: the platform's Retry-After decides.
        ("rate_limited", 3, seen[3][2]),
        ("failed", 4, 16 * minute),
        ("rate_limited", 4, DEFAULT_RATE_LIMIT_WAIT),
        ("ok", 0, minute),  # recovered without a person; the ordinary interval again
    ]
    assert seen[3][2] == timedelta(seconds=120)
    # Every request after the first went out with the kept validator, the storm included.
    assert all(r.get("If-None-Match") == '"v1"' for r in feed.requests)
    assert len(feed.requests) == 7

    channel.refresh_from_db()
    assert channel.status == ChannelStatus.OK
    assert channel.rate_limit_reset_at is None
    assert channel.last_error == ""
    assert channel.cursor == {"etag": '"v2"'}
    assert sorted(
        Message.objects.filter(channel=channel).values_list("external_id", flat=True)
    ) == [
        "post-1",
        "post-2",
    ]


def test_the_health_shows_the_storm_while_it_lasts(feed):
    channel = ChannelFactory(
        kind="rss", poll_interval_seconds=60, config={"feed_url": feed.url, "all_entries": True}
    )
    now = timezone.now()
    for _ in range(3):
        with time_machine.travel(now, tick=False):
            poll_channel_once(channel_id=channel.pk)
        now = Channel.objects.get(pk=channel.pk).next_poll_at
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.FAILING
    assert channel.consecutive_failures == 3
    assert "500" in channel.last_error
    with time_machine.travel(now, tick=False):
        poll_channel_once(channel_id=channel.pk)  # the 429 with Retry-After: 120
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.RATE_LIMITED
    assert channel.rate_limit_reset_at == channel.next_poll_at
    assert channel.rate_limit_reset_at > now
