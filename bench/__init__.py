"""The benchmark harness: this server against llama.cpp's own tools and servers, one command."""
