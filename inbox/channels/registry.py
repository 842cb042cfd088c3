"""Which connector serves which channel kind. Imported lazily: a kind's SDK loads only when used."""

from django.utils.module_loading import import_string

from inbox.channels.base import ChannelConfig, Connector

CONNECTORS = {
    "x": "inbox.channels.x.XConnector",
    "facebook": "inbox.channels.meta.FacebookConnector",
    "instagram": "inbox.channels.meta.InstagramConnector",
    "mastodon": "inbox.channels.mastodon.MastodonConnector",
    "bluesky": "inbox.channels.bluesky.BlueskyConnector",
    "rss": "inbox.channels.rss.RssConnector",
    "email": "inbox.channels.email.EmailConnector",
    "webhook": "inbox.channels.webhook.WebhookConnector",
    "simulator": "inbox.channels.simulator.SimulatorConnector",
    "whatsapp": "inbox.channels.whatsapp.WhatsAppConnector",
    "messenger": "inbox.channels.messenger.MessengerConnector",
    "instagram_direct": "inbox.channels.messenger.InstagramDirectConnector",
    "linkedin": "inbox.channels.linkedin.LinkedInConnector",
    "youtube": "inbox.channels.youtube.YouTubeConnector",
}


def get_connector(kind: str) -> Connector:
    return import_string(CONNECTORS[kind])()


def channel_config(channel) -> ChannelConfig:
    """The plain view of a Channel row that connectors get (credentials decrypted here, not stored)."""
    from inbox.channels.credentials import decrypt_credentials

    return ChannelConfig(
        id=channel.pk,
        kind=channel.kind,
        own_handles=tuple(channel.own_handles or ()),
        keywords=tuple(channel.keywords or ()),
        credentials=decrypt_credentials(channel.credentials_encrypted),
        settings=dict(channel.config or {}),
    )
