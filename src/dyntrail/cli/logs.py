"""``--log-level`` and ``--log-file``: dyntrail's own log (the ``dyntrail`` logger and its
children, e.g. ``dyntrail.runners.backtest``) on stderr or in a file, never on stdout.

No credential reaches a log: the value after a credential's name (the names the journal
refuses to write) is replaced by ``***`` in every line.
"""

from __future__ import annotations

import enum
import logging
import re
import sys
from pathlib import Path

from dyntrail.journal import SECRET_KEYS

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_CREDENTIAL = re.compile(
    r"(?i)\b(" + "|".join(re.escape(k) for k in SECRET_KEYS) + r")(['\"]?\s*[:=]\s*['\"]?)"
    r"([^\s'\",;}]+)"
)


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class RedactCredentials(logging.Filter):
    """Replaces the value written after a credential's name (``api_key=...``,
    ``"access_token": "..."``) with ``***``; the line itself is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _CREDENTIAL.sub(r"\1\2***", message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(level: LogLevel, file: Path | None) -> None:
    """Send the ``dyntrail`` logger's records at ``level`` and above to ``file`` (appended) or
    to stderr. Replaces the handler a previous call installed (one per process)."""
    logger = logging.getLogger("dyntrail")
    for old in [h for h in logger.handlers if getattr(h, "dyntrail_cli", False)]:
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler = (
        logging.FileHandler(file, encoding="utf-8") if file is not None else _Stderr()
    )
    handler.dyntrail_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactCredentials())
    logger.addHandler(handler)
    logger.setLevel(level.value)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment (a test runner swaps it per command)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)
