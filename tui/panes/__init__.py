"""The app's panes, one module each: Traces (built) and the planned panes (described, not built)."""
