"""Tests of services/evals/."""
