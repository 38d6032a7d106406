"""Sweeps that run: a plan over axes, expanded into cells, each exported, trained and evaluated."""
