"""Headless core of sft-studio.

Everything the TUI does goes through here, so it can be scripted and tested without a screen.
This package must never import Textual (tests/test_layering.py enforces it).
"""
