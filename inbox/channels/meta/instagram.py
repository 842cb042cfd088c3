"""Instagram comments of a business account: polled from its recent media, answered in the
comment's thread, hidden on the platform."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from inbox.channels.base import ChannelConfig, ConnectorError, ReplyTarget
from inbox.channels.meta.connector import MetaConnector
from inbox.channels.meta.graph import GraphClient
from inbox.channels.meta.messages import instagram_message

COMMENT_FIELDS = "id,text,timestamp,username,from,parent_id"


class InstagramConnector(MetaConnector):
    kind = "instagram"
    # Instagram private replies go through a separate Messenger setup we do not have yet.
    can_reply_privately = False
    max_length = 2200
    account_setting = "ig_user_id"
    newest_first = False  # Instagram gives no order guarantee: filter, do not stop early

    def _containers(
        self, client: GraphClient, account_id: str, max_items: int, last_seen: datetime | None
    ) -> Iterable[dict[str, Any]]:
        media_list = client.get(
            f"{account_id}/media",
            {"fields": "id,timestamp,permalink,comments_count", "limit": max_items},
        )
        for media in (media_list.get("data") or [])[:max_items]:
            if media.get("comments_count") != 0:
                yield media

    def _comments(self, client: GraphClient, media: dict[str, Any], max_pages: int):
        first = client.get(
            f"{media['id']}/comments",
            {"fields": f"{COMMENT_FIELDS},replies{{{COMMENT_FIELDS}}}", "limit": 50},
        )
        for top in self._pages(client, first, max_pages):
            replies = (top.get("replies") or {}).get("data") or []
            for comment in [top, *replies]:

                def build(
                    channel: ChannelConfig,
                    account_id: str,
                    created: datetime,
                    comment=comment,
                    top=top,
                ):
                    if comment is not top and not comment.get("parent_id"):
                        comment = {**comment, "parent_id": top["id"]}
                    return instagram_message(
                        channel,
                        account_id=account_id,
                        comment=comment,
                        created_at=created,
                        media_id=str(media["id"]),
                        url=media.get("permalink") or "",
                        raw={
                            "source": "poll",
                            **{k: v for k, v in comment.items() if k != "replies"},
                        },
                    )

                yield comment, build

    @staticmethod
    def _time_of(comment: dict[str, Any]) -> Any:
        return comment.get("timestamp")

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        if target.private:
            raise ConnectorError("Private replies are not available on Instagram", transient=False)
        # Instagram only answers top-level comments; a reply to a reply joins the same thread.
        comment_id = target.thread_external_id or target.in_reply_to_external_id
        result = self.client(channel).post(f"{comment_id}/replies", data={"message": text})
        return str(result["id"])

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        account_id = str(channel.settings.get("ig_user_id") or "")
        own = {h.lstrip("@").lower() for h in channel.own_handles}
        comment_id = target.thread_external_id or target.in_reply_to_external_id
        client = self.client(channel)
        first = client.get(
            f"{comment_id}/replies", {"fields": "id,text,username,from", "limit": 50}
        )

        def is_ours(reply: dict[str, Any]) -> bool:
            author = reply.get("from") or {}
            username = str(author.get("username") or reply.get("username") or "").lower()
            return bool(account_id and str(author.get("id")) == account_id) or username in own

        return self._own_reply(client, first, text, text_field="text", is_ours=is_ours)

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        self.client(channel).post(external_id, data={"hide": "true" if hidden else "false"})
