"""The inference engine: llama.cpp runners with slots, batching, sampling, and the scheduler."""

from ollama_toolkit import config

# Before any engine module loads llama.cpp (and with it libgomp, which reads this only then).
config.set_openmp_defaults()
