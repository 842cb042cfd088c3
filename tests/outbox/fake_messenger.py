"""A stand-in for Meta's Send and Conversations APIs on loopback, and the real Messenger connector
pointed at it.

FakeMessenger is a small threaded http.server speaking POST /<version>/<page-id>/messages (the
answer's message_id is the new mid) and GET /<version>/<page-id>/conversations?user_id=... (the
messages the page sent, in the Conversations API's shape), so find_existing_reply reads what was
really accepted. It counts POSTs and keeps every message, with the metadata it was given.

LoopbackMessengerConnector is inbox.channels.messenger.MessengerConnector unchanged, except that
its HTTP session sends requests for https://graph.facebook.com to this server instead.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from inbox.channels.messenger import MessengerConnector
from tests.outbox.fake_whatsapp import GRAPH_HOST, _Rewrite


class FakeMessenger:
    """Modes for the next POSTs: "ok", "crash" (accept, then hang), "5xx-posted" (accept, answer
    503), "5xx" (answer 503, accept nothing)."""

    def __init__(self, page_id: str) -> None:
        self.page_id = page_id
        self.messages: list[dict] = []
        self.post_requests = 0
        self.modes: list[str] = []
        self.posted = threading.Event()
        self._ids = (f"m_fake{n:012d}" for n in itertools.count(1))
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
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
                    pass  # the client died (SIGKILL)

            def do_GET(self):
                url = urlsplit(self.path)
                if not url.path.endswith("/conversations"):
                    return self._json(404, {"error": {"message": "Unknown path", "code": 803}})
                user = parse_qs(url.query).get("user_id", [""])[0]
                with fake._lock:
                    sent = [m for m in fake.messages if m["recipient"]["id"] == user]
                data = [
                    {
                        "id": m["id"],
                        "message": m["message"]["text"],
                        "from": {"id": fake.page_id, "name": "Pakketdienst Snel"},
                        "created_time": m["created_time"],
                    }
                    for m in reversed(sent)
                ]
                self._json(200, {"data": [{"id": "t_1", "messages": {"data": data}}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                with fake._lock:
                    fake.post_requests += 1
                    mode = fake.modes.pop(0) if fake.modes else "ok"
                if not self.path.split("?")[0].endswith("/messages"):
                    return self._json(404, {"error": {"message": "Unknown path", "code": 803}})
                if mode == "5xx":
                    return self._json(503, {"error": {"message": "Service unavailable", "code": 2}})
                now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
                message = {**body, "id": next(fake._ids), "created_time": now}
                with fake._lock:
                    fake.messages.append(message)
                fake.posted.set()
                if mode == "crash":
                    time.sleep(30)  # the test SIGKILLs the worker meanwhile
                if mode == "5xx-posted":
                    return self._json(503, {"error": {"message": "Service unavailable", "code": 2}})
                self._json(
                    200, {"recipient_id": body["recipient"]["id"], "message_id": message["id"]}
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def echo(self, message: dict) -> dict:
        """The message_echoes delivery Meta sends for a message this server accepted."""
        return {
            "object": "page",
            "entry": [
                {
                    "id": self.page_id,
                    "time": int(time.time() * 1000),
                    "messaging": [
                        {
                            "sender": {"id": self.page_id},
                            "recipient": message["recipient"],
                            "timestamp": int(time.time() * 1000),
                            "message": {
                                "mid": message["id"],
                                "is_echo": True,
                                "app_id": 1489123456789012,
                                "text": message["message"]["text"],
                                **(
                                    {"metadata": message["message"]["metadata"]}
                                    if "metadata" in message["message"]
                                    else {}
                                ),
                            },
                        }
                    ],
                }
            ],
        }

    def __enter__(self) -> FakeMessenger:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class LoopbackMessengerConnector(MessengerConnector):
    """The production connector whose HTTP goes to ChannelConfig.settings["api_base_url"]."""

    def client(self, channel):
        session = requests.Session()
        session.mount(GRAPH_HOST, _Rewrite(channel.settings["api_base_url"]))
        self._session = session
        return super().client(channel)
