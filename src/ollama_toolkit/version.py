"""The installed package's version, in a module of its own so that anything can import it
without importing the package's client exports."""

from importlib import metadata

try:
    __version__ = metadata.version("ollama-toolkit")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
