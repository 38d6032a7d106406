"""Tests of services/configs/."""
