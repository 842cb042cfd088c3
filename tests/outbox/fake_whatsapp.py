"""A stand-in for the WhatsApp Cloud API on loopback, and the real WhatsAppConnector pointed at it.

FakeWhatsApp is a small threaded http.server speaking POST /<version>/<phone-number-id>/messages
as the Cloud API does (the answer's messages[0].id is the new wamid). It counts every request
and keeps every message it accepted, with the biz_opaque_callback_data it was given, so a test
can assert that a reply reached the customer once and send the status callback Meta would.

LoopbackWhatsAppConnector is inbox.channels.whatsapp.WhatsAppConnector unchanged, except that
its HTTP session sends requests for https://graph.facebook.com to this server instead.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from requests.adapters import HTTPAdapter

from inbox.channels.whatsapp import WhatsAppConnector

GRAPH_HOST = "https://graph.facebook.com"


class FakeWhatsApp:
    """Modes for the next POSTs: "ok", "crash" (accept, then hang), "5xx-posted" (accept,
    answer 503), "5xx" (answer 503, accept nothing)."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.post_requests = 0
        self.modes: list[str] = []
        self.posted = threading.Event()
        self._ids = (f"wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI{n:016d}A" for n in itertools.count(1))
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

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                with fake._lock:
                    fake.post_requests += 1
                    mode = fake.modes.pop(0) if fake.modes else "ok"
                if not self.path.split("?")[0].endswith("/messages"):
                    return self._json(404, {"error": {"message": "Unknown path", "code": 803}})
                if mode == "5xx":
                    return self._json(503, {"error": {"message": "Service unavailable", "code": 2}})
                message = {**body, "id": next(fake._ids)}
                with fake._lock:
                    fake.messages.append(message)
                fake.posted.set()
                if mode == "crash":
                    time.sleep(30)  # the test SIGKILLs the worker meanwhile
                if mode == "5xx-posted":
                    return self._json(503, {"error": {"message": "Service unavailable", "code": 2}})
                self._json(
                    200,
                    {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                        "messages": [{"id": message["id"]}],
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def status_callback(self, message: dict, status: str = "sent", number: str = "") -> dict:
        """The webhook delivery Meta sends for a message this server accepted."""
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "31851234567",
                                    "phone_number_id": number,
                                },
                                "statuses": [
                                    {
                                        "id": message["id"],
                                        "status": status,
                                        "timestamp": str(int(time.time())),
                                        "recipient_id": message["to"],
                                        "biz_opaque_callback_data": message.get(
                                            "biz_opaque_callback_data", ""
                                        ),
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }

    def __enter__(self) -> FakeWhatsApp:
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
        request.url = self.base + request.url[len(GRAPH_HOST) :]
        return super().send(request, **kwargs)


class LoopbackWhatsAppConnector(WhatsAppConnector):
    """The production connector whose HTTP goes to ChannelConfig.settings["api_base_url"]."""

    def client(self, channel):
        session = requests.Session()
        session.mount(GRAPH_HOST, _Rewrite(channel.settings["api_base_url"]))
        self._session = session
        return super().client(channel)
