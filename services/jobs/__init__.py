"""Training jobs on a Synth learning-API backend: the client, submission, polling, the local job store."""
