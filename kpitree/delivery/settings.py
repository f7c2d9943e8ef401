"""Where messages go: SMTP and Slack credentials from the environment or a secrets file, never
from a tree file (which is committed to a repository).

The secrets file is TOML (``--secrets FILE`` or ``$KPITREE_SECRETS``)::

    [smtp]
    host = "smtp.example.com"
    port = 587
    starttls = true
    username = "kpitree"
    password = "..."
    sender = "kpitree@example.com"

    [slack]
    bot_token = "xoxb-..."
    [slack.webhooks]
    "#cs-ops" = "https://hooks.slack.com/services/..."

Environment variables override it: ``KPITREE_SMTP_HOST``, ``KPITREE_SMTP_PORT``,
``KPITREE_SMTP_STARTTLS`` (true/false), ``KPITREE_SMTP_USERNAME``, ``KPITREE_SMTP_PASSWORD``,
``KPITREE_SMTP_SENDER``, ``KPITREE_SLACK_BOT_TOKEN``, ``KPITREE_SLACK_API_URL``. A channel
with nothing configured writes its messages to files in the local outbox directory instead, so
nothing is lost and a dry run shows what would have gone out.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpitree.addresses import slack_target_problem, webhook_problem
from kpitree.errors import UsageError

SECRETS_ENV = "KPITREE_SECRETS"
DEFAULT_OUTBOX_DIR = Path(".kpitree") / "outbox"
SLACK_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    sender: str = "kpitree@localhost"
    timeout: float = 30.0


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str | None = None
    api_url: str = SLACK_API_URL
    webhooks: Mapping[str, str] = field(default_factory=dict)  # channel or member -> incoming webhook URL
    # Webhooks the secrets file gives that cannot be used, target -> why: messages to those targets
    # are dead letters with the reason (never sent elsewhere, never a crash).
    invalid_webhooks: Mapping[str, str] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.bot_token or self.webhooks or self.invalid_webhooks)


@dataclass(frozen=True)
class DeliverySettings:
    smtp: SmtpSettings | None
    slack: SlackSettings
    outbox_dir: Path  # where channels without credentials write their messages

    @classmethod
    def load(
        cls, secrets: Path | None = None, environ: Mapping[str, str] | None = None, outbox_dir: Path | None = None
    ) -> DeliverySettings:
        env = os.environ if environ is None else environ
        path = secrets or (Path(env[SECRETS_ENV]) if env.get(SECRETS_ENV) else None)
        data = _read_secrets(path) if path else {}
        smtp_data = {**data.get("smtp", {}), **_env_section(env, "KPITREE_SMTP_")}
        slack_data = {**data.get("slack", {}), **_env_section(env, "KPITREE_SLACK_")}
        smtp = None
        if smtp_data.get("host"):
            smtp = SmtpSettings(
                host=_text(smtp_data, "host"),
                port=_port(smtp_data.get("port", 587)),
                starttls=_boolean(smtp_data.get("starttls", True)),
                username=_optional_text(smtp_data, "username"),
                password=_optional_text(smtp_data, "password", secret=True),
                sender=_text(smtp_data, "sender", "kpitree@localhost"),
            )
        webhooks, invalid = _webhooks(slack_data.get("webhooks", {}))
        api_url = _text(slack_data, "api_url", SLACK_API_URL)
        if webhook_problem(api_url):
            raise UsageError(f"slack.api_url cannot be used: {webhook_problem(api_url)}", hint=_SEE)
        slack = SlackSettings(
            bot_token=_optional_text(slack_data, "bot_token", secret=True),
            api_url=api_url,
            webhooks=webhooks,
            invalid_webhooks=invalid,
        )
        return cls(smtp, slack, outbox_dir or DEFAULT_OUTBOX_DIR)


_SEE = "see docs/alerts.md for the secrets file's layout and the KPITREE_SMTP_* / KPITREE_SLACK_* variables"


def _read_secrets(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"no secrets file {path}", hint=f"check --secrets or ${SECRETS_ENV}") from None
    except IsADirectoryError:
        raise UsageError(f"the secrets file {path} is a directory", hint=f"check --secrets or ${SECRETS_ENV}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the secrets file {path}: {exc.strerror}", hint=_SEE) from None
    except tomllib.TOMLDecodeError as exc:  # says where ("at line 3, column 7"), never the value
        raise UsageError(f"{path} is not valid TOML: {exc}", hint=_SEE) from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text", hint=_SEE) from None
    for section in ("smtp", "slack"):
        if not isinstance(data.get(section, {}), dict):
            raise UsageError(f"[{section}] in {path} must be a table of settings", hint=_SEE)
    return data


def _text(data: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value.strip() or any(ord(c) < 32 for c in value):
        raise UsageError(f"the {key} setting must be text on one line", hint=_SEE)
    return value


def _optional_text(data: Mapping[str, Any], key: str, *, secret: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or any(ord(c) < 32 for c in value):
        shown = "" if secret else f" (got {value!r})"
        raise UsageError(f"the {key} setting must be text on one line{shown}", hint=_SEE)
    return value


def _port(value: object) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise UsageError(f"the SMTP port must be a number from 1 to 65535, got {value!r}", hint=_SEE)
    return port


def _webhooks(raw: object) -> tuple[dict[str, str], dict[str, str]]:
    """The usable webhooks by target, and the unusable ones with why (never the URL: it is a secret)."""
    if not isinstance(raw, dict):
        layout = '"#channel" = "https://hooks.slack.com/..."'
        raise UsageError(f"slack.webhooks must be a table of {layout}", hint=_SEE)
    good: dict[str, str] = {}
    bad: dict[str, str] = {}
    for target, url in raw.items():
        problem = slack_target_problem(str(target))
        if problem is None:
            problem = webhook_problem(url) if isinstance(url, str) else "it is not text"
        if problem is None:
            good[str(target)] = url
        else:
            bad[str(target)] = f"the webhook for {target!r} in the secrets file cannot be used: {problem}"
    return good, bad


def _env_section(env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    return {key.removeprefix(prefix).lower(): value for key, value in env.items() if key.startswith(prefix)}


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")
