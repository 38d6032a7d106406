"""SFT job configs: TOML documents, the synth-ai 0.2.23 check, advice, payload, sweeps, base-model catalogue."""
