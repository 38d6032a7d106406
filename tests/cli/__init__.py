"""Tests of the sft-studio command line."""
