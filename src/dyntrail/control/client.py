"""The operator's side: reach a running session (``dyntrail ctl``) by its run folder or its
API's URL.

By run folder: ``control.json`` says where its API listens and ``control.token`` holds the
token. When the session serves no API (not running, or run with ``--no-api``), a command is
dropped into the folder's inbox, applied once at the session's next event (or its next
start), and the status is the last one the session wrote (``status.json``)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dyntrail.control.api import INFO_FILE, TOKEN_FILE
from dyntrail.control.inbox import Request, drop
from dyntrail.errors import DyntrailError

TOKEN_ENV = "DYNTRAIL_CONTROL_TOKEN"


class ControlError(DyntrailError):
    """The session cannot be reached, or refused the call (the message says which)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a session is: its API (``url`` and ``token``) and/or its run folder."""

    url: str | None
    token: str | None
    run_dir: Path | None


def find(session: Path | None, url: str | None, token_file: Path | None) -> Target:
    """The target of ``--session DIR`` or ``--url URL`` (the token from ``--token-file``, else
    ``$DYNTRAIL_CONTROL_TOKEN``, else the run folder's ``control.token``)."""
    token = None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ControlError(f"{token_file}: cannot read the token: {exc.strerror}") from None
    token = token or os.environ.get(TOKEN_ENV) or None
    if session is not None:
        if not session.is_dir():
            raise ControlError(f"{session}: no such run folder")
        info = session / INFO_FILE
        if url is None and info.exists():
            try:
                url = str(json.loads(info.read_text(encoding="utf-8"))["url"])
            except (OSError, ValueError, KeyError) as exc:
                raise ControlError(f"{info}: unreadable ({type(exc).__name__})") from None
        tok = session / TOKEN_FILE
        if token is None and tok.exists():
            token = tok.read_text(encoding="utf-8").strip()
    elif url is None:
        raise ControlError("say which session: --session RUN_DIR or --url URL")
    if url is not None and not token:
        raise ControlError(
            f"no token for {url}: give --token-file FILE or set {TOKEN_ENV} "
            "(the token is in the session's run folder, control.token)"
        )
    return Target(url.rstrip("/") if url else None, token, session)


def call(
    t: Target, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 15.0
) -> tuple[int, Any]:
    """One call to the API: (HTTP status, JSON body). ``ConnectionError`` when nothing
    answers; the token is never part of an error."""
    assert t.url is not None
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(t.url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {t.token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, _json(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json(exc.read())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(f"no answer from {t.url}: {reason}") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return {"detail": raw.decode("utf-8", "replace")[:200]}


def _api(
    t: Target, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 15.0
) -> tuple[int, Any] | None:
    """The API's answer, or None when it does not answer and the run folder can stand in;
    ``ControlError`` when the token was refused."""
    if t.url is None:
        return None
    try:
        code, out = call(t, method, path, body, timeout)
    except ConnectionError:
        if t.run_dir is None:
            raise
        return None
    if code == 401:
        raise ControlError(f"{t.url}: the token was refused")
    return code, out


def send(t: Target, req: Request, wait_s: float) -> dict[str, Any]:
    """``req`` to the session: through its API when it answers (waiting up to ``wait_s`` for
    the engine to apply it), else into its run folder's inbox (``state: queued``)."""
    body = {"command": req.command, "arg": req.arg, "limits": req.limits,
            "source": req.source, "wait": wait_s}  # fmt: skip
    got = _api(t, "POST", "/api/commands", body, timeout=wait_s + 10)
    if got is not None:
        code, out = got
        if code == 400:
            raise ControlError(str(out.get("detail")))
        return dict(out)
    assert t.run_dir is not None
    path = drop(t.run_dir, req)
    return {"id": req.id, "command": req.command, "state": "queued", "file": str(path)}


def status(t: Target) -> dict[str, Any]:
    """The session's status: from its API, else the last one it wrote."""
    got = _api(t, "GET", "/api/status")
    if got is not None:
        return dict(got[1])
    assert t.run_dir is not None
    path = t.run_dir / "status.json"
    if not path.exists():
        raise ControlError(f"{t.run_dir}: no status yet (the session has not written one)")
    out = json.loads(path.read_text(encoding="utf-8"))
    out["stale"] = "the session serves no API: its last written status"
    return dict(out)
