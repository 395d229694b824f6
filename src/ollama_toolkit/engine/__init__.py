"""The inference engine: llama.cpp runners with slots, batching, sampling, and the scheduler."""
