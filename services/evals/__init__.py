"""Evaluating models in Crafter: the launcher, task-app compatibility, scores with confidence intervals."""
