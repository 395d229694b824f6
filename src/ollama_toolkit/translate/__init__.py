"""Pure translations between other APIs' wire types and Ollama's (OpenAI's, for now)."""
