"""Reusable Textual widgets of sft-studio (bar charts, message panels, table helpers, status line)."""
