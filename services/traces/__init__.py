"""Trace DBs of every synth-ai generation: finding, opening read-only, schema, the writer, stats."""
