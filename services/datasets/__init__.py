"""From trace sessions to SFT data: filter spec, presets, session index, preview, selection, export, validation."""
