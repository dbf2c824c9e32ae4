"""One error hierarchy. Messages are for people: they name the file, row or key, the value,
and what would be valid."""

from __future__ import annotations


class DyntrailError(Exception):
    """Base of every error dyntrail raises on purpose."""


class ConfigError(DyntrailError):
    """A configuration file or value is invalid.

    ``problems`` holds every problem found (one line each); the message joins them.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class DataError(DyntrailError):
    """Input market data is invalid (names the file, the row and the problem)."""


class BrokerError(DyntrailError):
    """A broker refused or failed a request."""


class JournalError(DyntrailError):
    """The journal is unreadable or inconsistent."""
