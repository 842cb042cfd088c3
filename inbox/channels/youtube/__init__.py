"""YouTube comments (Data API v3): see connector.py for threading, polling and moderation."""

from inbox.channels.youtube.api import API_URL, TOKEN_URL, next_quota_reset, parse_time
from inbox.channels.youtube.connector import YouTubeConnector, comment_message, thread_messages

__all__ = [
    "API_URL",
    "TOKEN_URL",
    "YouTubeConnector",
    "comment_message",
    "next_quota_reset",
    "parse_time",
    "thread_messages",
]
