"""Playing Crafter and recording it: the policy interface, teacher, random, OpenAI-compatible, collector, demo."""
