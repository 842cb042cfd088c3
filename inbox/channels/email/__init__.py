"""E-mail: IMAP in, SMTP out (connector), and reading messy real mail (parsing)."""

from inbox.channels.email.connector import EmailConnector
from inbox.channels.email.parsing import MAX_TEXT_CHARS, html_to_text, parse_message

__all__ = ["MAX_TEXT_CHARS", "EmailConnector", "html_to_text", "parse_message"]
