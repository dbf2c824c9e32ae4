"""The functional core: pure, deterministic decisions. Nothing here reads the clock, the disk
or the network; time comes in as ``now`` and data as arguments."""
