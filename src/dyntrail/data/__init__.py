"""Market data (shell): the exchange calendar and data sources."""
