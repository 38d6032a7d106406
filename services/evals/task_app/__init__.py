"""Task-app compatibility: our own grpo-crafter task app (``sft-studio task-app serve``) and a client for any."""
