"""Tests of services/common/."""
