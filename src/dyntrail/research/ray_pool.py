"""A sweep on a Ray cluster (``pip install 'dyntrail[ray]'``; ``dyntrail sweep --ray
ADDRESS`` or ``RAY_ADDRESS``): the driver reads the data once and puts it in the cluster's
object store; one actor per CPU (or ``workers``) builds its bench from it once, runs batches of
trials, and sends each batch's results back as it finishes, to the driver's Parquet files.

Every node needs this version of dyntrail installed (the actors import it); the data never
needs to be on the nodes."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dyntrail.data.loaders import MarketData
from dyntrail.errors import ConfigError
from dyntrail.research.space import space_of
from dyntrail.research.sweep import Setup, Task
from dyntrail.research.trial import Lab, TrialResult

log = logging.getLogger(__name__)


class _Bench:
    """One actor's bench: the data from the object store, the space, a ``Lab``."""

    def __init__(self, setup: Setup, market: MarketData) -> None:
        self.lab = Lab(setup.base, Path(setup.data), setup.seed, setup.source, market)
        self.space = space_of(setup.space_doc, setup.source)

    def run(self, tasks: list[Task]) -> list[TrialResult]:
        return [self.lab.run(point, w, self.space, tables) for point, w, tables in tasks]


class RayPool:
    """Batches of trials on the actors of a Ray cluster at ``address`` ("auto": the one
    ``RAY_ADDRESS`` or a local ``ray start`` names)."""

    def __init__(self, setup: Setup, address: str, workers: int | None = None) -> None:
        try:
            import ray as ray_module
        except ImportError:
            raise ConfigError("--ray needs Ray: pip install 'dyntrail[ray]'") from None
        from dyntrail.core.config_load import config_from_mapping
        from dyntrail.runners.plan import load_market

        ray: Any = ray_module
        self.ray = ray
        self._owns = not ray.is_initialized()  # connected here: disconnected at close
        if self._owns:
            try:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            except ConnectionError as exc:
                raise ConfigError(f"--ray {address}: no Ray cluster answers ({exc})") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.width = max(1, min(workers or cpus, cpus))
        cfg = config_from_mapping(setup.base, setup.source)
        market = ray.put(load_market(cfg, Path(setup.data)))  # once, for every actor
        bench = ray.remote(num_cpus=1)(_Bench)
        self.actors: list[Any] = [bench.remote(setup, market) for _ in range(self.width)]
        log.info("Ray cluster %s: %d actors", address, self.width)

    def run(self, batches: Sequence[list[Task]]) -> Iterator[list[TrialResult]]:
        ray = self.ray
        todo = list(batches)
        running: dict[Any, int] = {}
        free = list(range(len(self.actors)))
        while todo or running:
            while todo and free:
                k = free.pop(0)
                running[self.actors[k].run.remote(todo.pop(0))] = k
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                free.append(running.pop(ref))
                yield ray.get(ref)

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
        if self._owns:
            self.ray.shutdown()
