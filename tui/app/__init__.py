"""The sft-studio terminal app: the App, its F1 help, the pane registry and the shared worker helpers."""
