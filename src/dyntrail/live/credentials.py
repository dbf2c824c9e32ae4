"""Kite credentials: where they come from, how the day's access token is kept, and how none of
them ever reaches a journal, a log, a report or an error message.

- The API key and secret come from the environment (``DYNTRAIL_KITE_API_KEY``,
  ``DYNTRAIL_KITE_API_SECRET``) or a TOML file outside the repository (``api_key``,
  ``api_secret``; default ``~/.config/dyntrail/kite.toml``, or ``DYNTRAIL_KITE_CREDENTIALS``),
  readable by its owner only.
- The access token comes from ``DYNTRAIL_KITE_ACCESS_TOKEN``, or from the token file that
  ``dyntrail live login`` writes (mode 0600, beside the credentials file) for the day it was
  issued: Kite's tokens end early the next morning, so yesterday's is never used.
- A ``Secret`` prints as ``***``; ``redact`` and ``RedactingFilter`` take known secret values
  out of any text and log record (the client's own debug log shows its request headers)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dyntrail.errors import ConfigError

ENV_KEY = "DYNTRAIL_KITE_API_KEY"
ENV_SECRET = "DYNTRAIL_KITE_API_SECRET"
ENV_TOKEN = "DYNTRAIL_KITE_ACCESS_TOKEN"
ENV_FILE = "DYNTRAIL_KITE_CREDENTIALS"
DEFAULT_FILE = Path("~/.config/dyntrail/kite.toml")
MASK = "***"


class Secret:
    """A credential: shown as ``***`` everywhere; ``reveal()`` is for the client alone."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class KiteCredentials:
    """The API key (not secret by Kite's rules, but kept out of outputs all the same), the
    secret (needed only to log in) and the day's access token (None before a login)."""

    api_key: Secret
    api_secret: Secret | None
    access_token: Secret | None
    source: str  # where they came from, for messages (a path or "environment")
    token_file: Path

    def secrets(self) -> list[str]:
        """Every credential value, for redaction."""
        return [s.reveal() for s in (self.api_key, self.api_secret, self.access_token) if s]


def credentials_file(path: Path | None = None) -> Path:
    raw = path or (Path(os.environ[ENV_FILE]) if os.environ.get(ENV_FILE) else DEFAULT_FILE)
    return raw.expanduser()


def load_credentials(path: Path | None = None, today: dt.date | None = None) -> KiteCredentials:
    """The credentials from the environment, else from the file (see the module docstring);
    a ConfigError names what is missing or unsafe, never a value."""
    file = credentials_file(path)
    values: dict[str, Any] = {}
    source = "environment"
    if not os.environ.get(ENV_KEY):
        if not file.exists():
            raise ConfigError(
                f"Kite credentials: set {ENV_KEY} and {ENV_SECRET}, or write {file} with "
                "api_key and api_secret (mode 600, outside the repository)"
            )
        _check_file(file)
        try:
            values = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML ({exc})") from None
        unknown = sorted(set(values) - {"api_key", "api_secret"})
        if unknown:
            raise ConfigError(f"{file}: unknown keys {unknown}; expected api_key, api_secret")
        if not values.get("api_key"):
            raise ConfigError(f"{file}: api_key is missing")
        source = str(file)
    key = os.environ.get(ENV_KEY) or str(values["api_key"])
    secret = os.environ.get(ENV_SECRET) or values.get("api_secret")
    token_file = file.with_name("kite-token.json")
    token = os.environ.get(ENV_TOKEN) or read_token(token_file, today or dt.date.today())
    return KiteCredentials(
        Secret(key),
        Secret(str(secret)) if secret else None,
        Secret(token) if token else None,
        source,
        token_file,
    )


def _check_file(file: Path) -> None:
    """Refuse a credentials file others can read, or one inside a git work tree (it would be
    one ``git add`` away from being published)."""
    mode = file.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{file}: readable by others (mode {mode:o}); run: chmod 600 {file}")
    for parent in file.resolve().parents:
        if (parent / ".git").exists():
            raise ConfigError(
                f"{file}: inside the git work tree {parent}; keep credentials outside any "
                "repository (default: ~/.config/dyntrail/kite.toml)"
            )


def read_token(token_file: Path, today: dt.date) -> str | None:
    """The access token stored for ``today``, or None (none stored, or an earlier day's)."""
    if not token_file.exists():
        return None
    try:
        data = json.loads(token_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("day") != today.isoformat():
        return None
    token = data.get("access_token")
    return str(token) if token else None


def store_token(token_file: Path, token: str, day: dt.date) -> None:
    """Write the day's access token, readable by its owner only (created 0600, never wider)."""
    token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = token_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps({"day": day.isoformat(), "access_token": token}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, token_file)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for s in secrets:
        if s:
            text = text.replace(s, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A log filter that takes the secrets out of every record it passes (message and args),
    installed on the handlers of a live run."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
        return True
