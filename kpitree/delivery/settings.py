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

    @property
    def configured(self) -> bool:
        return bool(self.bot_token or self.webhooks)


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
                host=str(smtp_data["host"]),
                port=int(smtp_data.get("port", 587)),
                starttls=_boolean(smtp_data.get("starttls", True)),
                username=smtp_data.get("username"),
                password=smtp_data.get("password"),
                sender=str(smtp_data.get("sender", "kpitree@localhost")),
            )
        slack = SlackSettings(
            bot_token=slack_data.get("bot_token"),
            api_url=str(slack_data.get("api_url", SLACK_API_URL)),
            webhooks={str(k): str(v) for k, v in dict(slack_data.get("webhooks", {})).items()},
        )
        return cls(smtp, slack, outbox_dir or DEFAULT_OUTBOX_DIR)


def _read_secrets(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"no secrets file {path}", hint=f"check --secrets or ${SECRETS_ENV}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", hint="see docs/alerts.md for its layout") from None


def _env_section(env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    return {key.removeprefix(prefix).lower(): value for key, value in env.items() if key.startswith(prefix)}


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")
