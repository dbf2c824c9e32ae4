"""Operator control: commands, the local API and dashboard, notifications."""
