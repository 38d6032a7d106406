"""The Traces pane: trace-DB statistics, auto-refresh, and collecting rollouts into the open DB."""
