"""The control API's guard: every call but the page needs the session's token (none, a
wrong one, another scheme: 401), the token file is 0600 and goes with the session, a
non-loopback address is refused unless allowed on purpose, bad commands are refused before
they reach the engine, and the page itself holds no data."""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dyntrail.control.api import ApiServer
from dyntrail.control.plane import Control, ControlOptions, is_loopback
from dyntrail.errors import ConfigError

PATHS = ("/api/status", "/api/events", "/api/commands/x", "/health", "/metrics")


def _get(url: str, headers: dict[str, str] | None = None, body: Any = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if data:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    control = Control(tmp_path, "paper", set())
    srv = ApiServer(control, ControlOptions())
    srv.start()
    yield srv
    srv.stop()


def test_every_call_needs_the_token(server: ApiServer) -> None:
    url, token = server.url, server.token
    for path in PATHS:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {token[:-1]}"},
            {"Authorization": f"Basic {token}"},
            {"X-Token": token},
        ):
            code, body = _get(url + path, headers)
            assert code == 401, (path, headers, code)
            assert token not in body
    code, _ = _get(url + "/api/commands", {}, {"command": "kill"})
    assert code == 401
    good = {"Authorization": f"Bearer {token}"}
    assert _get(url + "/health", good)[0] == 200
    code, text = _get(url + "/metrics", good)
    assert code == 200 and "dyntrail_loop_age_seconds" in text


def test_the_page_needs_no_token_and_holds_no_data(server: ApiServer) -> None:
    code, page = _get(server.url + "/")
    assert code == 200 and "<title>dyntrail session</title>" in page
    assert server.token not in page and "/api/status" in page


def test_bad_commands_are_refused_at_the_door(server: ApiServer) -> None:
    good = {"Authorization": f"Bearer {server.token}"}
    code, body = _get(server.url + "/api/commands", good, {"command": "sell-everything"})
    assert code == 400 and "unknown command" in body
    code, body = _get(server.url + "/api/commands", good, {"command": "force-exit", "arg": "x"})
    assert code == 400 and "trade id" in body
    code, body = _get(server.url + "/api/commands", good, {"command": "pause-entries"})
    assert code == 202 and json.loads(body)["state"] == "pending"  # no engine: it waits


def test_the_token_file_is_private_and_goes_with_the_session(tmp_path: Path) -> None:
    control = Control(tmp_path, "paper", set())
    srv = ApiServer(control, ControlOptions())
    srv.start()
    token_file = tmp_path / "control.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text() == srv.token and len(srv.token) >= 40
    info = json.loads((tmp_path / "control.json").read_text())
    assert info["url"] == srv.url and srv.token not in json.dumps(info)
    srv.stop()
    assert not token_file.exists() and not (tmp_path / "control.json").exists()


def test_a_non_local_address_is_refused_unless_allowed(tmp_path: Path) -> None:
    control = Control(tmp_path, "paper", set())
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.com"):
        with pytest.raises(ConfigError, match="not a loopback address"):
            ApiServer(control, ControlOptions(host=host))
    assert not (tmp_path / "control.token").exists()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    srv = ApiServer(control, ControlOptions(host="0.0.0.0", allow_remote=True))
    srv.start()
    try:
        port = srv.url.rsplit(":", 1)[1]
        code, _ = _get(f"http://127.0.0.1:{port}/health")
        assert code == 401  # reachable, and still behind the token
    finally:
        srv.stop()


def test_a_port_in_use_is_a_clear_error(server: ApiServer, tmp_path: Path) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    other = Control(tmp_path / "b", "paper", set())
    (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
        ApiServer(other, ControlOptions(port=port)).start()
