"""Checks on every address before it becomes a header or a URL.

Addresses come from tree files, the secrets file, the command line and, for ``entity:<column>``
owners, from warehouse values (an account's ``csm_email``). A value with a line break would inject
SMTP headers; a malformed webhook URL made the delivery worker crash. Each check returns why an
address cannot be used (``None`` when it can), in words that do not repeat a secret.
"""

from __future__ import annotations

import functools
import re
from typing import Final
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS_CHARS: Final = 320  # RFC 5321's limit for a mailbox
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# '#channel' (no spaces, nothing Slack's mrkdwn would read as markup), or a member, channel or group id.
_SLACK_TARGET: Final = re.compile(r"^(#[^\s#<>&,|]{1,80}|[CDGUWS][A-Z0-9]{2,30})$")


@functools.lru_cache(maxsize=4096)
def email_problem(address: str) -> str | None:
    """Why ``address`` is not one email address (None when it is). Cached: a run with thousands of
    entity alerts checks the same few owner columns' addresses again and again."""
    if _CONTROL.search(address):
        return "it holds a line break or another control character"
    if len(address) > MAX_ADDRESS_CHARS:
        return f"it is longer than {MAX_ADDRESS_CHARS} characters"
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def slack_target_problem(target: str) -> str | None:
    """Why ``target`` is not a Slack channel ('#name') or member/channel id (None when it is)."""
    if _CONTROL.search(target):
        return "it holds a line break or another control character"
    if not _SLACK_TARGET.match(target):
        return "it is neither '#channel-name' nor a Slack id such as U01ABCD or C01ABCD"
    return None


def webhook_problem(url: str) -> str | None:
    """Why ``url`` cannot be an incoming-webhook URL (None when it can). The URL itself is a secret
    (its path is the credential), so the reason never quotes it."""
    if _CONTROL.search(url) or any(c.isspace() for c in url):
        return "it holds a space, a line break or another control character"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return "it is not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "it is not an http(s) URL with a host"
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return "it is plain http to another host: webhooks carry their credential in the URL, use https"
    return None
