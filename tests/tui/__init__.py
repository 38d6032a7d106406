"""Pilot and snapshot tests of the terminal app."""
