"""Facebook Page and Instagram comments through the Meta Graph API.

Comments arrive in two ways, and both end up as the same IncomingMessages:

- pushed: Meta's webhook (Page "feed" changes with item "comment", Instagram
  "comments" changes), verified with X-Hub-Signature-256 and turned into
  messages by ``parse_webhook`` (webhook.py; inbox/views/webhooks.py calls it);
- pulled: ``fetch`` backfills the comments on the most recent posts or media,
  for what a webhook missed (downtime, an app not yet subscribed).

Threading: Facebook and Instagram nest comments two levels deep. A top-level
comment opens its own thread (``conversation_external_id`` = its id, no
parent: 7,000 comments under one post are 7,000 units of work, not one); a
reply points at the comment it answers and belongs to that comment's thread.
The post or media id is kept in ``raw``.

Channel settings (``Channel.config``): Facebook ``page_id``; Instagram
``ig_user_id`` (and ``page_id`` for private replies through the Page).
Optional ``backfill_posts`` (default 10) and ``backfill_pages`` (default 3)
bound the poll. Credentials: ``access_token`` (a Page access token),
``app_secret`` (webhook signatures and appsecret_proof), ``verify_token``
(the webhook subscription handshake).

No ORM here: connectors return dataclasses (inbox/channels/base.py).

The package: graph.py (HTTP and errors), messages.py (a comment as an IncomingMessage),
webhook.py (push), connector.py (what both connectors share, the poll's skeleton),
facebook.py and instagram.py.
"""

from inbox.channels.meta.facebook import FacebookConnector
from inbox.channels.meta.graph import (
    DEFAULT_RATE_LIMIT_WAIT,
    GRAPH_URL,
    GraphClient,
    parse_time,
    rate_limit_reset,
)
from inbox.channels.meta.instagram import InstagramConnector
from inbox.channels.meta.webhook import parse_webhook, verify_signature, verify_subscription

__all__ = [
    "DEFAULT_RATE_LIMIT_WAIT",
    "GRAPH_URL",
    "FacebookConnector",
    "GraphClient",
    "InstagramConnector",
    "parse_time",
    "parse_webhook",
    "rate_limit_reset",
    "verify_signature",
    "verify_subscription",
]
