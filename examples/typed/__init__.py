"""Twisted's PB examples ported to schemas (``schemas/``) and generated code (``gen/``).

Each module runs its server and its client in one process on 127.0.0.1:
``python -m examples.typed.pb1`` from the repository root.
"""
