"""The Jobs pane (not built yet): training jobs on a Synth learning-API backend."""
