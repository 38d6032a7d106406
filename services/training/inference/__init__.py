"""OpenAI-compatible inference for the local backend's models.

``toolcalls`` reads tool calls out of generated text, ``worker`` is the child process that holds the
models (the only place here that imports torch), ``client`` talks to it from the server, and
``routes`` serves ``/v1/models`` and ``/v1/chat/completions``.
"""
