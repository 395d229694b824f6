"""`python -m ollama_toolkit`: the same command as `ollama-toolkit`."""

from ollama_toolkit.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
