"""Trade-by-trade comparison of an engine's W1 trades with the reference, with a diagnosis of
each difference in W1's words (which rule the engine applied differently on which bar)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from w1_reference import W1_PARAMS, Trade, W1Params

PRICE_TOL_PTS = 1e-6


@dataclass
class Comparison:
    """How an engine's trades differ from the reference's; ``agree`` when not at all."""

    n_ref: int
    n_engine: int
    diffs: list[str] = field(default_factory=list)
    causes: Counter[str] = field(default_factory=Counter)
    reason_mismatches: int = 0

    @property
    def agree(self) -> bool:
        return not self.diffs

    def summary(self) -> str:
        if self.agree:
            return "yes"
        return f"NO ({len(self.diffs)} differ)"


def _same(a: Trade, b: Trade) -> bool:
    return (
        a.entry_bar == b.entry_bar
        and a.exit_bar == b.exit_bar
        and abs(a.entry_price - b.entry_price) <= PRICE_TOL_PTS
        and abs(a.exit_price - b.exit_price) <= PRICE_TOL_PTS
    )


def _bar(data, i: int) -> str:
    return (
        f"bar {i} {str(data.ts[i])[:16]} O {data.open[i]:.2f} H {data.high[i]:.2f} "
        f"L {data.low[i]:.2f} C {data.close[i]:.2f}"
    )


def _diagnose(data, ref: Trade, got: Trade, params: W1Params) -> str:
    """Name the rule that most plausibly explains one differing trade."""
    if ref.entry_bar != got.entry_bar:
        return "entry bar differs"
    if abs(ref.entry_price - got.entry_price) > PRICE_TOL_PTS:
        return "entry price differs (entry not at the signal bar's close)"
    target = params.target(ref.entry_price)
    if got.exit_bar == ref.exit_bar:
        if ref.reason == "stop" and abs(got.exit_price - target) <= PRICE_TOL_PTS:
            return "bar touched stop and target: engine filled the target (W1: stop wins)"
        if ref.reason == "stop" and abs(ref.exit_price - data.open[ref.exit_bar]) <= PRICE_TOL_PTS:
            return "gap through the stop: engine did not fill at the open"
        if (
            ref.reason == "target"
            and abs(ref.exit_price - data.open[ref.exit_bar]) <= PRICE_TOL_PTS
        ):
            return "gap through the target: engine did not fill at the open"
        return "same exit bar, different exit price (stop level or fill rule)"
    if got.exit_bar == ref.exit_bar - 1 and abs(got.exit_price - ref.exit_price) <= PRICE_TOL_PTS:
        return "stop raised into the market: engine exited at once at this bar's close"
    if got.exit_bar < ref.exit_bar:
        return "engine exited earlier (stop level higher than W1's, or target/EOD rule)"
    return "engine exited later (stop level lower than W1's, or stop/EOD rule not applied)"


def compare(
    data,
    ref: Sequence[Trade],
    got: Sequence[Trade],
    params: W1Params = W1_PARAMS,
    show: int = 8,
) -> Comparison:
    """Match trades by entry bar; diagnose each difference. The first ``show`` differences are
    written out with the bars involved; every difference is counted by cause."""
    out = Comparison(len(ref), len(got))
    by_ref = {t.entry_bar: t for t in ref}
    by_got = {t.entry_bar: t for t in got}
    first_diff_bar: int | None = None
    for bar in sorted(set(by_ref) | set(by_got)):
        a, b = by_ref.get(bar), by_got.get(bar)
        if a is not None and b is not None and _same(a, b):
            if a.reason and b.reason and a.reason != b.reason:
                out.reason_mismatches += 1
            continue
        if a is None or b is None:
            present = a or b
            if first_diff_bar is not None and present.entry_bar > first_diff_bar:
                cause = "follows an earlier difference (position was open/closed at the signal)"
            else:
                cause = "entry only in the reference" if b is None else "entry only in the engine"
        else:
            cause = _diagnose(data, a, b, params)
        if first_diff_bar is None:
            first_diff_bar = bar
        out.causes[cause] += 1
        if len(out.diffs) < show:
            lines = [f"  entry bar {bar}: {cause}", f"    ref:    {a}", f"    engine: {b}"]
            for t in (a, b):
                if t is not None:
                    lines.append(f"    exit {_bar(data, t.exit_bar)}")
            out.diffs.append("\n".join(lines))
        else:
            out.diffs.append(cause)
    return out
