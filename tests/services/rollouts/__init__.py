"""Tests of services/rollouts/."""
