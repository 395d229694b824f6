"""Model names, manifests and blobs on disk (Ollama's layout), GGUF metadata, the bundled models."""
