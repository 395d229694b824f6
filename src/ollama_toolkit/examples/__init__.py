"""Runnable examples: `python -m ollama_toolkit.examples.generate_example` and friends.

Each starts a local server in the background when none answers (unless `--no-autostart`).
"""
