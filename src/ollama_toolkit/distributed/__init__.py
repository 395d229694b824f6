"""The server scaled out on Ray Serve: engine replicas behind one ingress (docs/scaling-out.md).

Nothing here is imported by the plain server: `ollama-toolkit serve --ray` (cli/) and Serve's
application builder (`ollama_toolkit.distributed.app:build`) are the only ways in, and Ray itself
is imported only by the modules that need it (`router`, `replica`, `ingress`, `app`), never by
this package's `__init__` or by `keys`. Install with the extra: `pip install
'ollama-toolkit[ray]'`.
"""
