"""dyntrail: intraday ATM index-option trades with dynamic profit targets and trailing stops.

The public API re-exported here is the design document's types and functions, Pythonic names,
and ``backtest`` (``dyntrail.api``): a backtest run from Python, its results as DataFrames.
"""

from dyntrail.api import Result, backtest
from dyntrail.core.config import Config, StrategySection
from dyntrail.core.config_load import load_config
from dyntrail.core.exit_pricing import option_exit_price_from_underlying_move
from dyntrail.core.indicators import Atr
from dyntrail.core.position import BarEvent, Position, open_position
from dyntrail.core.regime import SpikeBreaker, vix_tier
from dyntrail.core.targets import DynamicTargetEngine, TargetContext
from dyntrail.core.types import DynamicTargets, PositionAction, Side, VixTier
from dyntrail.errors import ConfigError, DataError, DyntrailError

__version__ = "0.1.0"

__all__ = [
    "Atr",
    "BarEvent",
    "Config",
    "ConfigError",
    "DataError",
    "DynamicTargetEngine",
    "DynamicTargets",
    "DyntrailError",
    "Position",
    "PositionAction",
    "Result",
    "Side",
    "SpikeBreaker",
    "StrategySection",
    "TargetContext",
    "VixTier",
    "__version__",
    "backtest",
    "load_config",
    "open_position",
    "option_exit_price_from_underlying_move",
    "vix_tier",
]
