"""Tests of services/crafter/."""
