"""[live]: how ``dyntrail live`` trades on Kite Connect (the README's Live section). No
credential lives here: they come from the environment or a file outside the repository
(``dyntrail.live.credentials``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class LiveSection(BaseModel):
    """[live]: the Kite adapter's settings and the live session's guards."""

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )

    confirm: bool = False  # real orders need this switch or --confirm-live
    product: Literal["MIS", "NRML"] = "MIS"
    market_protection: Annotated[int, Field(ge=-1, le=100)] = -1  # -1: Kite's automatic
    algo_id: str = ""  # the exchange's algo id, when the broker gives one
    order_rate_per_s: Annotated[float, Field(gt=0, le=9.5)] = 8.0  # Kite: 10 order calls/s
    poll_s: Annotated[float, Field(gt=0)] = 1.0  # the order book read while orders work
    resend_after_s: Annotated[float, Field(gt=0)] = 10.0  # a lost send is re-sent no sooner
    stale_s: Annotated[float, Field(gt=0)] = 5.0  # no tick for this long: no entries
    strikes_around: Annotated[int, Field(ge=1, le=20)] = 5  # options subscribed around ATM
    quote_max_age_s: Annotated[float, Field(gt=0)] = 10.0  # an older option tick: no quote
    warmup_days: Annotated[int, Field(ge=1, le=30)] = 5  # history read for the indicators
    logout_at_end: bool = True  # a real session that ended invalidates the day's token
    request_timeout_s: Annotated[float, Field(gt=0)] = 7.0  # an unanswered REST call: unknown
    clock: Literal["wall", "feed"] = "wall"  # "feed": market time from the ticks (replays)
    rest_root: str = ""  # Kite's REST root ("": the client's default, api.kite.trade)
    ws_root: str = ""  # Kite's WebSocket root ("": ws.kite.trade)
