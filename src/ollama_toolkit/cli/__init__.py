"""The `ollama-toolkit` command, shaped like `ollama`'s: it talks to a server through the client."""
