"""Tests of services/traces/."""
