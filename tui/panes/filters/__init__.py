"""The Filters pane: the filter form, the live count preview, export and presets."""
