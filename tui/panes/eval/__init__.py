"""The Eval pane (not built yet): base and fine-tuned models played over the same Crafter seeds."""
