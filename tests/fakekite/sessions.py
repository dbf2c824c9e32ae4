"""The login session: request tokens (one use each), the access token they are exchanged for,
and the checks every authenticated call and WebSocket handshake goes through.

One access token is valid at a time: a new session replaces the previous one."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Callable
from typing import Any

from fakekite.model import USER_ID, KiteError, kite_ts

BAD_TOKEN = "Incorrect `api_key` or `access_token`."


def token_error(message: str) -> KiteError:
    return KiteError(403, "TokenException", message)


class Sessions:
    def __init__(self, api_key: str, api_secret: str, clock: Callable[[], dt.datetime]) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._request_tokens: set[str] = set()
        self.access_token = secrets.token_hex(16)
        self._valid: set[str] = {self.access_token}

    def request_token(self) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._request_tokens.add(token)
        return token

    def checksum(self, request_token: str) -> str:
        raw = self.api_key + request_token + self.api_secret
        return hashlib.sha256(raw.encode()).hexdigest()

    def create(self, api_key: str, request_token: str, checksum: str) -> dict[str, Any]:
        if api_key != self.api_key:
            raise token_error("Invalid `api_key`.")
        with self._lock:
            if request_token not in self._request_tokens:
                raise token_error("Token is invalid or has expired.")
            if not secrets.compare_digest(checksum, self.checksum(request_token)):
                raise token_error("Invalid `checksum`.")
            self._request_tokens.discard(request_token)
            self.access_token = secrets.token_hex(16)
            self._valid = {self.access_token}
        return {
            **self.profile(),
            "api_key": self.api_key,
            "access_token": self.access_token,
            "public_token": secrets.token_hex(16),
            "refresh_token": "",
            "enctoken": secrets.token_hex(24),
            "login_time": kite_ts(self._clock()),
        }

    def invalidate(self, api_key: str, access_token: str) -> None:
        if api_key != self.api_key:
            raise token_error("Invalid `api_key`.")
        with self._lock:
            if access_token not in self._valid:
                raise token_error(BAD_TOKEN)
            self._valid.discard(access_token)

    def expire(self) -> None:
        with self._lock:
            self._valid.clear()

    def valid(self, api_key: str, access_token: str) -> bool:
        with self._lock:
            return api_key == self.api_key and access_token in self._valid

    def authenticate(self, header: str | None) -> str:
        """Check ``Authorization: token api_key:access_token``; returns the api_key."""
        scheme, _, credentials = (header or "").partition(" ")
        api_key, _, access_token = credentials.partition(":")
        if scheme != "token" or not self.valid(api_key, access_token):
            raise token_error(BAD_TOKEN)
        return api_key

    @staticmethod
    def profile() -> dict[str, Any]:
        return {
            "user_id": USER_ID,
            "user_type": "individual",
            "email": "trader@example.com",
            "user_name": "Fake Trader",
            "user_shortname": "Trader",
            "broker": "ZERODHA",
            "exchanges": ["NSE", "NFO", "BSE", "BFO"],
            "products": ["CNC", "NRML", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "meta": {"demat_consent": "physical"},
        }
