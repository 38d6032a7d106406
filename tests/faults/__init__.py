"""The standing fault suite: disk full, signals, bad servers, hostile input, reading while writing (issue 11)."""
