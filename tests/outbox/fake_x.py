"""A stand-in for the X API v2 on loopback, and the real XConnector pointed at it.

FakeX is a small threaded http.server speaking the JSON of POST /2/tweets
(create_tweet) and GET /2/users/:id/tweets (what find_existing_reply reads). It counts
every post it accepts, so a test can assert that a reply reached the platform once.

LoopbackXConnector is inbox.channels.x.XConnector unchanged, except that its HTTP
session sends requests for https://api.twitter.com to this server instead (the
connector has no base-URL setting; tweepy hard-codes the host). Everything above the
transport (tweepy, the error mapping, find_existing_reply) is the production code.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from requests.adapters import HTTPAdapter

from inbox.channels.x import XConnector

X_HOST = "https://api.twitter.com"


class FakeX:
    """Modes for the next POSTs: "ok", "crash" (post, then hang), "slow" (post, answer late),
    "5xx-posted" (post, answer 503), "5xx" (answer 503, no post)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.post_requests = 0
        self.modes: list[str] = []  # consumed one per POST; "ok" when empty
        self.delay = 0.0
        self.posted = threading.Event()
        self._ids = itertools.count(1790000000000000001)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout) or died (SIGKILL)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                with fake._lock:
                    fake.post_requests += 1
                    mode = fake.modes.pop(0) if fake.modes else "ok"
                if self.path != "/2/tweets":
                    return self._json(404, {"title": "Not Found"})
                if mode == "5xx":
                    return self._json(503, {"title": "Service Unavailable", "status": 503})
                tweet = {
                    "id": str(next(fake._ids)),
                    "text": body["text"],
                    "edit_history_tweet_ids": [],
                    "referenced_tweets": [
                        {"type": "replied_to", "id": body["reply"]["in_reply_to_tweet_id"]}
                    ],
                }
                with fake._lock:
                    fake.posts.append(tweet)
                fake.posted.set()
                if mode == "crash":
                    time.sleep(30)  # the test SIGKILLs the worker meanwhile
                elif mode == "slow":
                    time.sleep(fake.delay)
                if mode == "5xx-posted":
                    return self._json(503, {"title": "Service Unavailable", "status": 503})
                time.sleep(fake.delay if mode == "ok" else 0)
                self._json(201, {"data": {"id": tweet["id"], "text": tweet["text"]}})

            def do_GET(self):
                if self.path.startswith("/2/users/") and "/tweets" in self.path:
                    with fake._lock:
                        data = [dict(t) for t in reversed(fake.posts)]
                    return self._json(200, {"data": data, "meta": {"result_count": len(data)}})
                self._json(404, {"title": "Not Found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeX:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Rewrite(HTTPAdapter):
    def __init__(self, base: str):
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):
        request.url = self.base + request.url[len(X_HOST) :]
        return super().send(request, **kwargs)


class LoopbackXConnector(XConnector):
    """The production X connector whose HTTP goes to ChannelConfig.settings["api_base_url"]."""

    def _client(self, channel):
        client = super()._client(channel)
        client.session.mount(X_HOST, _Rewrite(channel.settings["api_base_url"]))
        return client
