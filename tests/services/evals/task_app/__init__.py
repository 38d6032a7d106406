"""Tests of services/evals/task_app/: our task app, its client, and parity with synth-ai 0.2.10."""
