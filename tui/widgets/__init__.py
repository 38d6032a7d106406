"""Reusable Textual widgets of sft-studio (bar charts, message panels, table helpers, status line, the
stand-in of a pane built on first use, the placeholder of a pane not built yet)."""
