"""``pbtyped serve``: a supervisor, its worker processes, and the health endpoint.

``config`` reads the command line into a ``ServeConfig``; ``supervisor`` starts the workers,
restarts crashed ones and drains them all on SIGTERM/SIGINT; ``worker`` loads the
application and serves it; ``health`` is the HTTP endpoint balancers probe, and its client.
"""
