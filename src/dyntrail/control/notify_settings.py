"""Where operator notifications go (``dyntrail.control.notify``): a webhook URL and/or a
Telegram bot, from the environment; the token is a ``Secret`` and never shown."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from dyntrail.control.messages import NOTIFIED_KINDS
from dyntrail.errors import ConfigError
from dyntrail.live.credentials import Secret

ENV_WEBHOOK = "DYNTRAIL_NOTIFY_WEBHOOK"
ENV_TELEGRAM_TOKEN = "DYNTRAIL_TELEGRAM_TOKEN"
ENV_TELEGRAM_CHAT = "DYNTRAIL_TELEGRAM_CHAT_ID"
ENV_TELEGRAM_API = "DYNTRAIL_TELEGRAM_API"
ENV_KINDS = "DYNTRAIL_NOTIFY_KINDS"  # optional: a comma-separated list of the kinds below

INSTALL_HINT = "pip install 'dyntrail[notify]'"


@dataclass(frozen=True)
class NotifySettings:
    """Where notifications go. ``telegram_base_url`` is the Bot API's address with ``/bot`` at
    its end (None: Telegram's own); ``kinds`` limits the events sent to those journal kinds
    (None: every kind in ``NOTIFIED_KINDS``). A token needs a chat id and the reverse."""

    webhook_url: str | None = None
    telegram_token: Secret | None = None
    telegram_chat_id: str | None = None
    telegram_base_url: str | None = None
    kinds: frozenset[str] | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.telegram_token and not self.telegram_chat_id:
            problems.append("a Telegram token needs telegram_chat_id")
        if self.telegram_chat_id and not self.telegram_token:
            problems.append("a Telegram chat id needs telegram_token")
        if self.webhook_url and not _is_http(self.webhook_url):
            problems.append("webhook_url must be an http:// or https:// URL")
        if self.telegram_base_url and not _is_http(self.telegram_base_url):
            problems.append("telegram_base_url must be an http:// or https:// URL")
        if self.kinds is not None and not self.kinds <= NOTIFIED_KINDS:
            unknown = sorted(self.kinds - NOTIFIED_KINDS)
            problems.append(
                f"unknown notification kinds {unknown}; choose from {sorted(NOTIFIED_KINDS)}"
            )
        if problems:
            raise ConfigError(problems)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> NotifySettings:
        """The settings from ``DYNTRAIL_NOTIFY_WEBHOOK``, ``DYNTRAIL_TELEGRAM_TOKEN``,
        ``DYNTRAIL_TELEGRAM_CHAT_ID``, ``DYNTRAIL_TELEGRAM_API`` (the Bot API's base URL,
        optional) and ``DYNTRAIL_NOTIFY_KINDS`` (optional). A ConfigError names the variable
        that is missing or wrong, never a value."""

        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        webhook, token, chat = get(ENV_WEBHOOK), get(ENV_TELEGRAM_TOKEN), get(ENV_TELEGRAM_CHAT)
        base, kinds_text = get(ENV_TELEGRAM_API), get(ENV_KINDS)
        problems: list[str] = []
        if token and not chat:
            problems.append(f"{ENV_TELEGRAM_TOKEN} is set but {ENV_TELEGRAM_CHAT} is missing")
        if chat and not token:
            problems.append(f"{ENV_TELEGRAM_CHAT} is set but {ENV_TELEGRAM_TOKEN} is missing")
        if webhook and not _is_http(webhook):
            problems.append(f"{ENV_WEBHOOK} must be an http:// or https:// URL")
        if base and not _is_http(base):
            problems.append(f"{ENV_TELEGRAM_API} must be an http:// or https:// URL")
        kinds: frozenset[str] | None = None
        if kinds_text:
            kinds = frozenset(k.strip() for k in kinds_text.split(",") if k.strip())
            unknown = sorted(kinds - NOTIFIED_KINDS)
            if unknown:
                problems.append(
                    f"{ENV_KINDS}: unknown kinds {unknown}; choose from {sorted(NOTIFIED_KINDS)}"
                )
        if problems:
            raise ConfigError(problems)
        return cls(
            webhook_url=webhook,
            telegram_token=Secret(token) if token else None,
            telegram_chat_id=chat,
            telegram_base_url=base,
            kinds=kinds,
        )

    @property
    def telegram(self) -> bool:
        """True when a Telegram chat is configured."""
        return bool(self.telegram_token) and bool(self.telegram_chat_id)

    @property
    def enabled(self) -> bool:
        """True when notifications go somewhere."""
        return bool(self.webhook_url) or self.telegram

    def secrets(self) -> list[str]:
        """The values no log may show (the token, the webhook URL's path and query), for a
        ``RedactingFilter``; the longest first."""
        out: list[str] = []
        if self.telegram_token:
            token = self.telegram_token.reveal()
            out += [token, quote(token, safe="")]
        if self.webhook_url:
            parts = urlsplit(self.webhook_url)
            out.append(self.webhook_url)
            if parts.path.strip("/"):
                out.append(parts.path)
            if parts.query:
                out.append(parts.query)
                out += [v for _, v in parse_qsl(parts.query) if len(v) >= 4]
            if parts.password:
                out.append(parts.password)
        return sorted({s for s in out if s}, key=len, reverse=True)


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
