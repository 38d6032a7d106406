"""Tests of services/datasets/."""
