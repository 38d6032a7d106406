"""The local backend that really trains: the learning API on loopback, the trainer, inference."""
