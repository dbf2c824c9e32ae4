"""A sweep's trials on disk: Parquet files under ``trials/`` in the sweep's folder, one per
batch of finished trials, each written whole and renamed into place (a crash loses at most the
batch being written, never a file already there). Every trial keeps its config id, window,
parameters, KPIs, objective and daily returns, so a sweep is resumable (finished config ids
are skipped) and its report can judge all of them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dyntrail.research.trial import KPI_COLUMNS, TrialResult

TRIALS = "trials"


class TrialStore:
    """The trials of the sweep in ``folder`` (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / TRIALS
        self.folder.mkdir(parents=True, exist_ok=True)
        self._parts = len(list(self.folder.glob("part-*.parquet")))

    def done(self) -> set[str]:
        """The config ids already finished."""
        if not self._parts:
            return set()
        table = pq.read_table(self.folder, columns=["config_id"])
        return set(table.column("config_id").to_pylist())

    def add(self, results: Sequence[TrialResult], names: Sequence[str]) -> None:
        """Write ``results`` as one new part (``names``: the swept keys, one column each)."""
        if not results:
            return
        cols: dict[str, list[Any]] = {
            "config_id": [r.config_id for r in results],
            "window": [r.window.index for r in results],
            "phase": [r.window.phase for r in results],
            "first": [str(r.window.first or "") for r in results],
            "last": [str(r.window.last or "") for r in results],
            "params": [json.dumps(r.point, sort_keys=True, default=str) for r in results],
            "objective": [r.objective for r in results],
            "candidate": [r.candidate for r in results],
            "seconds": [r.seconds for r in results],
            "error": [r.error for r in results],
            "days": [r.days for r in results],
            "returns": [r.returns for r in results],
        }
        for name in names:
            cols[f"p:{name}"] = [_scalar(r.point.get(name)) for r in results]
        for k in KPI_COLUMNS:
            cols[f"kpi_{k}"] = [r.kpis.get(k) for r in results]
        table = pa.table({k: _column(v, FIXED.get(k)) for k, v in cols.items()})
        self._parts += 1
        path = self.folder / f"part-{self._parts:05d}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)

    def frame(self) -> Any:
        """Every trial as a pandas frame (empty when none)."""
        import pandas as pd

        if not self._parts:
            return pd.DataFrame()
        return pq.read_table(self.folder).to_pandas()


def _scalar(v: Any) -> Any:
    return str(v) if isinstance(v, str | bool) else (None if v is None else float(v))


FIXED: dict[str, pa.DataType] = {
    "config_id": pa.string(),
    "window": pa.int64(),
    "phase": pa.string(),
    "first": pa.string(),
    "last": pa.string(),
    "params": pa.string(),
    "objective": pa.float64(),
    "candidate": pa.bool_(),
    "seconds": pa.float64(),
    "error": pa.string(),
    "days": pa.list_(pa.string()),
    "returns": pa.list_(pa.float64()),
    **{f"kpi_{k}": pa.float64() for k in KPI_COLUMNS},
}


def _column(values: Iterable[Any], kind: pa.DataType | None) -> pa.Array:
    vals = list(values)
    if kind is not None:
        return pa.array(vals, type=kind)
    sample = next((v for v in vals if v is not None), None)
    if isinstance(sample, str):
        return pa.array(vals, type=pa.string())
    if isinstance(sample, bool):
        return pa.array(vals, type=pa.bool_())
    return pa.array(vals, type=pa.float64())
