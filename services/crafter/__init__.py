"""Crafter as a deterministic text environment: env, actions, observation, prompt, action text."""
