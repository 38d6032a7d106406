"""The Runs pane (not built yet): the ledger of every run, from filter to evaluation."""
