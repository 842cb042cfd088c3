"""HTTP endpoints for push channels: Meta's webhook and the generic signed webhook.

Public (no login): the caller proves itself with a signature over the raw body.
Every answer is JSON with a clear error, never a 500: a platform retries on
5xx, so a bug here must not turn into a retry storm, and a sender deserves to
know what it got wrong. Messages are ingested synchronously in the request
(a push batch is small), so a mention shows in the inbox within a second.

    GET  /hooks/meta/<id>/   Meta's subscription handshake (hub.challenge)
    POST /hooks/meta/<id>/   Meta delivery, X-Hub-Signature-256 (comments; on a Messenger or
                             Instagram Direct channel: messages, echoes and receipts)
    GET  /hooks/whatsapp/<id>/   the same handshake for a WhatsApp Business number
    POST /hooks/whatsapp/<id>/   WhatsApp delivery (messages and status callbacks), X-Hub-Signature-256
    POST /hooks/in/<id>/     generic webhook (docs/webhook.md)
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from inbox.channels import messenger, meta, webhook, whatsapp
from inbox.channels.base import ChannelConfig, IncomingMessage
from inbox.channels.registry import channel_config
from inbox.models import Channel, ChannelKind
from webcare.permissions import public_endpoint

logger = logging.getLogger(__name__)

META_KINDS = (ChannelKind.FACEBOOK, ChannelKind.INSTAGRAM)
META_DM_KINDS = (ChannelKind.MESSENGER, ChannelKind.INSTAGRAM_DIRECT)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _load_channel(channel_id: int, kinds: tuple[str, ...]) -> tuple[Channel, ChannelConfig] | None:
    channel = Channel.objects.filter(pk=channel_id, enabled=True, kind__in=kinds).first()
    if channel is None:
        return None
    return channel, channel_config(channel)


def _read_body(request: HttpRequest) -> bytes | JsonResponse:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "invalid Content-Length")
    if declared > limit:  # refuse before reading a byte of it
        return _error(413, f"body larger than {limit} bytes")
    try:
        body = request.body
    except RequestDataTooBig:
        return _error(413, f"body larger than {limit} bytes")
    if len(body) > limit:
        return _error(413, f"body larger than {limit} bytes")
    return body


def _parse_json(body: bytes) -> Any:
    """The decoded body, or raises ValueError with a message fit for the sender."""
    try:
        payload = json.loads(body)
    except UnicodeDecodeError:
        raise ValueError("malformed JSON: body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    # JSON can spell a lone surrogate ("\ud800"), which is no text at all: storing it would
    # fail in the database and turn into a 503 the sender retries forever.
    try:
        json.dumps(payload, ensure_ascii=False, allow_nan=True).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "malformed JSON: contains a lone surrogate escape (\\ud800-\\udfff), not valid UTF-8 text"
        ) from None
    return payload


def _ingest(channel: Channel, messages: list[IncomingMessage]) -> JsonResponse:
    from inbox.services.ingest import ingest_messages

    if messages:
        try:
            ingest_messages(channel=channel, messages=messages)
        except Exception:
            # Logged with the traceback; 503 asks the platform to deliver again later,
            # which is harmless because ingest is idempotent on (channel, external_id).
            logger.exception("Ingest of a push delivery failed on channel %s", channel.pk)
            return _error(503, "temporarily unable to store the messages; retry later")
    return JsonResponse({"received": len(messages)})


def _verified_meta_request(
    request: HttpRequest, channel_id: int, kinds: tuple[str, ...]
) -> tuple[Channel, ChannelConfig, bytes] | HttpResponse:
    """Meta's handshake (GET) or a delivery's body whose X-Hub-Signature-256 is right (POST):
    the same checks for every Meta product. An HttpResponse is the answer to give at once."""
    try:
        loaded = _load_channel(channel_id, kinds)
    except ImproperlyConfigured:
        logger.exception("Credentials of channel %s cannot be read", channel_id)
        return _error(503, "channel is misconfigured")
    if loaded is None:
        return _error(404, "unknown or disabled channel")
    channel, config = loaded

    if request.method == "GET":
        challenge = meta.verify_subscription(
            request.GET, str(config.credentials.get("verify_token") or "")
        )
        if challenge is None:
            logger.warning(
                "Meta subscription handshake refused on channel %s from %s",
                channel.pk,
                _client_ip(request),
            )
            return _error(403, "verification failed")
        # text/plain: the echoed challenge can never be rendered as HTML.
        return HttpResponse(challenge, content_type="text/plain; charset=utf-8")

    body = _read_body(request)
    if isinstance(body, JsonResponse):
        return body
    signature = request.headers.get("X-Hub-Signature-256", "")
    if not meta.verify_signature(str(config.credentials.get("app_secret") or ""), body, signature):
        logger.warning(
            "Forged or unsigned Meta delivery rejected on channel %s from %s",
            channel.pk,
            _client_ip(request),
        )
        return _error(403, "invalid signature")
    return channel, config, body


@public_endpoint
@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_webhook(request: HttpRequest, channel_id: int) -> HttpResponse:
    verified = _verified_meta_request(request, channel_id, META_KINDS + META_DM_KINDS)
    if isinstance(verified, HttpResponse):
        return verified
    channel, config, body = verified
    if channel.kind in META_DM_KINDS:
        return _meta_dm_delivery(channel, config, body)
    try:
        payload = _parse_json(body)
        messages = meta.parse_webhook(config, payload)
    except ValueError as exc:
        logger.warning("Bad Meta delivery on channel %s: %s", channel.pk, exc)
        return _error(400, str(exc))
    return _ingest(channel, messages)


def _meta_dm_delivery(channel: Channel, config: ChannelConfig, body: bytes) -> HttpResponse:
    """A Messenger / Instagram Direct delivery: messages and echoes in, then the receipts."""
    try:
        delivery = messenger.parse_delivery(config, _parse_json(body))
    except ValueError as exc:
        logger.warning("Bad Meta messaging delivery on channel %s: %s", channel.pk, exc)
        return _error(400, str(exc))
    response = _ingest(channel, delivery.messages)
    receipts = len(delivery.statuses) + len(delivery.watermarks) + len(delivery.unsent)
    if response.status_code != 200 or not receipts:
        return response
    from inbox.services.messaging import record_delivery

    try:
        record_delivery(channel=channel, delivery=delivery)
    except Exception:
        # Meta delivers again on a 5xx; applying a receipt twice changes nothing.
        logger.exception("Receipts of a Meta messaging delivery failed on channel %s", channel.pk)
        return _error(503, "temporarily unable to store the receipts; retry later")
    return JsonResponse({"received": len(delivery.messages), "statuses": receipts})


@public_endpoint
@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest, channel_id: int) -> HttpResponse:
    verified = _verified_meta_request(request, channel_id, (ChannelKind.WHATSAPP,))
    if isinstance(verified, HttpResponse):
        return verified
    channel, config, body = verified
    try:
        delivery = whatsapp.parse_delivery(config, _parse_json(body))
    except ValueError as exc:
        logger.warning("Bad WhatsApp delivery on channel %s: %s", channel.pk, exc)
        return _error(400, str(exc))
    response = _ingest(channel, delivery.messages)
    if response.status_code != 200 or not delivery.statuses:
        return response
    from inbox.services.whatsapp import record_statuses

    try:
        record_statuses(channel=channel, statuses=delivery.statuses)
    except Exception:
        # Meta delivers again on a 5xx; applying a status twice changes nothing.
        logger.exception("Status callbacks of a WhatsApp delivery failed on channel %s", channel.pk)
        return _error(503, "temporarily unable to store the statuses; retry later")
    return JsonResponse({"received": len(delivery.messages), "statuses": len(delivery.statuses)})


@public_endpoint
@csrf_exempt
@require_POST
def generic_webhook(request: HttpRequest, channel_id: int) -> HttpResponse:
    try:
        loaded = _load_channel(channel_id, (ChannelKind.WEBHOOK,))
    except ImproperlyConfigured:
        logger.exception("Credentials of channel %s cannot be read", channel_id)
        return _error(503, "channel is misconfigured")
    if loaded is None:
        return _error(404, "unknown or disabled channel")
    channel, config = loaded

    body = _read_body(request)
    if isinstance(body, JsonResponse):
        return body
    try:
        webhook.verify_request(
            str(config.credentials.get("secret") or ""), body, request.headers, timezone.now()
        )
    except webhook.WebhookRejected as exc:
        logger.warning(
            "Webhook delivery rejected on channel %s from %s: %s",
            channel.pk,
            _client_ip(request),
            exc.reason,
        )
        return _error(403, exc.reason)
    # Within the replay window the same signed request is only processed once.
    # A repeat gets a 200 (a sender retrying after a lost answer must not loop)
    # but costs nothing; ingest would have deduplicated its messages anyway.
    signature = request.headers.get(webhook.SIGNATURE_HEADER, "").lower()
    seen_key = f"webhook-seen:{channel.pk}:{hashlib.sha256(signature.encode()).hexdigest()}"
    if not _first_time(seen_key):
        logger.info("Replayed webhook delivery ignored on channel %s", channel.pk)
        return JsonResponse({"received": 0, "duplicate": True})
    try:
        payload = _parse_json(body)
        messages = webhook.parse_payload(config, payload)
    except (ValueError, webhook.WebhookRejected) as exc:
        _forget(seen_key)  # an identical resend gets the same 400, not a "duplicate"
        return _error(400, str(exc))
    response = _ingest(channel, messages)
    if response.status_code != 200:
        _forget(seen_key)  # let the retry through
    return response


def _first_time(key: str) -> bool:
    try:
        return cache.add(key, 1, timeout=webhook.REPLAY_WINDOW_SECONDS * 2)
    except Exception:
        # Without the cache, fall back on ingest's idempotency rather than refuse.
        logger.warning("Cache unavailable for webhook replay check", exc_info=True)
        return True


def _forget(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:
        logger.warning("Cache unavailable for webhook replay check", exc_info=True)
