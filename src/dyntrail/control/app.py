"""The session API's routes (FastAPI); served by ``dyntrail.control.api.ApiServer``, which
says what each does and how a call is authenticated."""

from __future__ import annotations

import asyncio
import json
import secrets
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from dyntrail.control.inbox import Request
from dyntrail.control.metrics import Metrics
from dyntrail.control.plane import Control
from dyntrail.engine.commands import CommandError, parse

MAX_WAIT_S = 30.0
SOURCES = ("api", "dashboard", "cli", "telegram")


class CommandBody(BaseModel):
    """A command for the engine (``engine.commands.parse`` reads it)."""

    command: str
    arg: str = ""
    limits: dict[str, float] = Field(default_factory=dict)
    source: str = "api"
    wait: float = Field(default=0.0, ge=0.0, le=MAX_WAIT_S)


def make_app(control: Control, token: str) -> Any:
    """The FastAPI application of one session (``dyntrail.control.api``)."""
    metrics = Metrics(control)
    page = resources.files("dyntrail.control").joinpath("dashboard.html").read_text("utf-8")

    def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise HTTPException(
                status_code=401,
                detail="a valid session token is needed (Authorization: Bearer TOKEN; "
                "the token is in the run folder's control.token)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    app = FastAPI(title="dyntrail session", docs_url=None, redoc_url=None, openapi_url=None)
    auth = [Depends(authorized)]

    @app.get("/", response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/plotly.min.js", response_class=PlainTextResponse)
    def plotly_js() -> PlainTextResponse:
        from plotly.offline import get_plotlyjs

        return PlainTextResponse(get_plotlyjs(), media_type="application/javascript")

    @app.get("/api/status", dependencies=auth)
    def status() -> JSONResponse:
        return JSONResponse(json.loads(json.dumps(control.status, default=str)))

    @app.get("/api/events", dependencies=auth)
    def events(after: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
        evs = control.events(after)
        return {"events": evs, "last": evs[-1]["n"] if evs else after}

    @app.post("/api/commands", dependencies=auth, status_code=202)
    async def command(body: CommandBody) -> JSONResponse:
        try:  # checked here first, so a typo is answered at once (the engine checks again)
            parse(body.command, body.arg, body.limits or None)
        except CommandError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        source = body.source if body.source in SOURCES else "api"
        req = control.ask(Request(body.command, body.arg, dict(body.limits), source))
        result: dict[str, Any] | None = {"id": req.id, "command": req.command, "state": "pending"}
        if body.wait > 0:
            result = await asyncio.to_thread(control.inbox.result, req.id, body.wait)
        # 200: the engine has decided (applied or refused: the body says); 202: not yet
        code = 202 if result is None or result["state"] == "pending" else 200
        return JSONResponse(result, status_code=code)

    @app.get("/api/commands/{key}", dependencies=auth)
    def command_result(key: str) -> dict[str, Any]:
        r = control.inbox.result(key)
        if r is None:
            raise HTTPException(status_code=404, detail=f"no command {key} here")
        return r

    @app.get("/health", dependencies=auth)
    def health() -> dict[str, Any]:
        return {"mode": control.mode, **control.health()}

    @app.get("/metrics", dependencies=auth, response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        body, content_type = metrics.render()
        return PlainTextResponse(body, media_type=content_type)

    return app
