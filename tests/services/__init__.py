"""Unit tests of the headless core, one folder per area."""
