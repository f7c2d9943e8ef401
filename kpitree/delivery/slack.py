"""Slack through slack_sdk: an incoming webhook when one is configured for the target, else
chat.postMessage with the bot token.

Neither client retries here (no retry handlers): retries belong to the outbox, which does not
block other deliveries while it waits. ``WebhookClient`` returns errors as responses with a
plain-text body (400 invalid_payload, 403 action_prohibited, 404 channel_not_found, 410
channel_is_archived); ``WebClient`` raises ``SlackApiError`` for ``ok: false``. 429 and 5xx are
recoverable, 429 after its Retry-After; so are the few Web API errors that mean "try later".
"""

from __future__ import annotations

from collections.abc import Mapping
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from kpitree.addresses import slack_target_problem
from kpitree.delivery.channels import DeliveryFailure, Outgoing, Sent
from kpitree.delivery.settings import SlackSettings

# Web API errors (ok: false) that say "later", not "never": https://api.slack.com/web#errors
TRANSIENT_API_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
)


class SlackChannel:
    name = "slack"

    def __init__(self, settings: SlackSettings, timeout: int = 30) -> None:
        self.settings = settings
        self.timeout = timeout

    @property
    def secrets(self) -> tuple[str, ...]:
        urls = tuple(self.settings.webhooks.values())
        paths = tuple(urlsplit(url).path for url in urls)
        return tuple(s for s in (self.settings.bot_token, *urls, *paths) if s)

    def send(self, message: Outgoing) -> Sent:
        (target,) = message.recipients
        problem = self.settings.invalid_webhooks.get(target) or slack_target_problem(target)
        if problem:
            raise DeliveryFailure(f"cannot post to {target!r}: {problem}", recoverable=False)
        blocks = list(message.blocks or [])
        webhook = self.settings.webhooks.get(target)
        try:
            if webhook:
                return self._webhook(webhook, message.text, blocks)
            if self.settings.bot_token:
                return self._post(target, message.text, blocks)
        except OSError as exc:  # refused, reset, timed out: urllib's errors are OSErrors
            raise DeliveryFailure(f"Slack unreachable: {exc}", recoverable=True) from None
        except HTTPException as exc:  # the server answered, but not in HTTP
            raise DeliveryFailure(f"Slack's answer was not HTTP ({type(exc).__name__})", recoverable=True) from None
        raise DeliveryFailure(
            f"no Slack webhook for {target} and no bot token", recoverable=False
        )  # dead-lettered with the reason; 'kpitree alerts retry' once configured

    def _webhook(self, url: str, text: str, blocks: list[Any]) -> Sent:
        client = WebhookClient(url, timeout=self.timeout, retry_handlers=[])
        response = client.send(text=text, blocks=blocks or None)
        if response.status_code == 200:
            return Sent(where="webhook")
        raise _http_failure(response.status_code, response.body, response.headers)

    def _post(self, channel: str, text: str, blocks: list[Any]) -> Sent:
        client = WebClient(
            token=self.settings.bot_token, base_url=self.settings.api_url, timeout=self.timeout, retry_handlers=[]
        )
        try:
            client.chat_postMessage(channel=channel, text=text, blocks=blocks or None)
        except SlackApiError as exc:
            response = exc.response
            error = str(response.get("error", "")) if isinstance(response.data, dict) else str(response.data)
            if response.status_code == 429 or response.status_code >= 500 or error in TRANSIENT_API_ERRORS:
                raise _http_failure(response.status_code, error, response.headers, force_recoverable=True) from None
            raise DeliveryFailure(f"Slack {response.status_code}: {error}", recoverable=False) from None
        return Sent(where="chat.postMessage")


def _http_failure(
    status: int, body: str, headers: Mapping[str, Any], *, force_recoverable: bool = False
) -> DeliveryFailure:
    retry_after = _retry_after(headers) if status == 429 else None
    recoverable = force_recoverable or status == 429 or status >= 500
    return DeliveryFailure(
        f"Slack {status}: {body.strip() or 'no body'}", recoverable=recoverable, retry_after=retry_after
    )


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None
