"""LinkedIn organisation page comments: client.py (HTTP, headers, errors), connector.py (the
poll, threading, replies; its docstring holds the design and the settings)."""

from inbox.channels.linkedin.client import (
    API_URL,
    DEFAULT_API_VERSION,
    LinkedInClient,
    next_midnight_utc,
    raise_for_linkedin_error,
)
from inbox.channels.linkedin.connector import (
    LinkedInConnector,
    comment_message,
    split_comment_urn,
    time_ms,
)

__all__ = [
    "API_URL",
    "DEFAULT_API_VERSION",
    "LinkedInClient",
    "LinkedInConnector",
    "comment_message",
    "next_midnight_utc",
    "raise_for_linkedin_error",
    "split_comment_urn",
    "time_ms",
]
