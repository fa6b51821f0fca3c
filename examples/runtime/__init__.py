"""Twisted PB's example programs, ported to pbtyped's runtime API; each file is a script.

This file exists only so that ``mypy examples`` names these modules ``runtime.*`` and they cannot
clash with same-named scripts in other example directories. Run the scripts directly, in pairs
(``python examples/run_pair.py NAME``), not as a package.
"""
