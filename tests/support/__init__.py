"""Test helpers: trace-DB generator, fakes and stubs, reference-tool harnesses, Pilot helpers."""
