"""The Configs pane: form and raw TOML in sync, findings, payload, diff, save, sweeps."""
