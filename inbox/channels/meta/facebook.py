"""Facebook Page comments: polled from the page's recent posts, replied to under the comment
(or privately, one Messenger message per comment), hidden on the page."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from inbox.channels.base import ChannelConfig, ReplyTarget
from inbox.channels.meta.connector import MetaConnector
from inbox.channels.meta.graph import GraphClient, parse_time
from inbox.channels.meta.messages import facebook_message

COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url"


def _post_is_quiet(post: dict[str, Any], last_seen: datetime) -> bool:
    """No comment since last_seen (an unreadable time counts as news: better one call too many)."""
    try:
        return parse_time(post.get("updated_time")) < last_seen
    except ValueError:
        return False


class FacebookConnector(MetaConnector):
    kind = "facebook"
    can_reply_privately = True
    max_length = 8000
    account_setting = "page_id"
    newest_first = True  # comments are read in reverse chronological order

    def _containers(
        self, client: GraphClient, account_id: str, max_items: int, last_seen: datetime | None
    ) -> Iterable[dict[str, Any]]:
        posts = client.get(
            f"{account_id}/posts",
            {"fields": "id,updated_time,permalink_url", "limit": max_items},
        )
        for post in (posts.get("data") or [])[:max_items]:
            # A post's updated_time moves with every new comment: skip the quiet ones.
            if not (last_seen and _post_is_quiet(post, last_seen)):
                yield post

    def _comments(self, client: GraphClient, post: dict[str, Any], max_pages: int):
        first = client.get(
            f"{post['id']}/comments",
            {
                "filter": "stream",  # top-level comments and replies, flat
                "order": "reverse_chronological",
                "fields": COMMENT_FIELDS,
                "limit": 100,
            },
        )
        for comment in self._pages(client, first, max_pages):

            def build(channel: ChannelConfig, page_id: str, created: datetime, comment=comment):
                return facebook_message(
                    channel,
                    page_id=page_id,
                    comment_id=str(comment["id"]),
                    parent_id=str((comment.get("parent") or {}).get("id") or ""),
                    text=comment.get("message") or "",
                    created_at=created,
                    author=comment.get("from") or {},
                    url=comment.get("permalink_url") or "",
                    raw={"source": "poll", "post_id": post["id"], **comment},
                )

            yield comment, build

    @staticmethod
    def _time_of(comment: dict[str, Any]) -> Any:
        return comment.get("created_time")

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        client = self.client(channel)
        if target.private:
            # Private reply: one Messenger message to the commenter, once per comment.
            page_id = self._setting(channel, "page_id")
            result = client.post(
                f"{page_id}/messages",
                json_body={
                    "recipient": {"comment_id": target.in_reply_to_external_id},
                    "message": {"text": text},
                    "messaging_type": "RESPONSE",
                },
            )
            return str(result.get("message_id") or "")
        result = client.post(f"{target.in_reply_to_external_id}/comments", data={"message": text})
        return str(result["id"])

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """Our page's reply with this text under the comment, if an earlier attempt posted it.

        Private replies cannot be listed, but Meta accepts only one per comment: a
        repeated attempt fails with code 10900 instead of sending twice.
        """
        if target.private:
            return None
        page_id = self._setting(channel, "page_id")
        client = self.client(channel)
        first = client.get(
            f"{target.in_reply_to_external_id}/comments",
            {
                "fields": "id,message,from{id}",
                "filter": "stream",
                "order": "reverse_chronological",
                "limit": 100,
            },
        )

        def is_ours(comment: dict[str, Any]) -> bool:
            return str((comment.get("from") or {}).get("id")) == page_id

        return self._own_reply(client, first, text, text_field="message", is_ours=is_ours)

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        self.client(channel).post(external_id, data={"is_hidden": "true" if hidden else "false"})
