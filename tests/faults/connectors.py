"""A connector for the fault tests: a deterministic batch, as big as the channel asks.

Channel settings: count (messages per fetch), prefix (external ids are prefix-0..count-1).
The returned cursor names the prefix, so a test can see it was saved with the last batch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from inbox.channels.base import ChannelConfig, ConnectorError, FetchResult, IncomingMessage

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


class BatchConnector:
    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        count = int(channel.settings.get("count", 10))
        prefix = str(channel.settings.get("prefix", "m"))
        messages = [
            IncomingMessage(
                external_id=f"{prefix}-{i}",
                text=f"Mijn verwarming doet het niet, bericht {i}",
                created_at=EPOCH + timedelta(seconds=i),
                author_id=f"author-{i % 500}",
                author_handle=f"klant{i % 500}",
            )
            for i in range(count)
        ]
        return FetchResult(messages=messages, cursor={"done": prefix})

    def send_reply(self, *args, **kwargs):
        raise ConnectorError("listening only", transient=False)

    def find_existing_reply(self, *args, **kwargs):
        return None
