"""Shared bits every area may use; imports nothing else of ours."""
