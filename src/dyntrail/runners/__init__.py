"""Runners wire a clock, a feed, a broker and a journal into the one engine."""
