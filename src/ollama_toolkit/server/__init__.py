"""The HTTP server: Ollama's REST API over the engine and the store."""
