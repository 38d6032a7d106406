"""The local backend's server: the Synth learning API on loopback (FastAPI), its SQLite store, the job
runner that starts one trainer child per job, the bearer key, and the pid/port file that keeps one
server per data dir. None of these modules imports torch: only the trainer child does."""
