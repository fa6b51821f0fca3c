"""``python -m pbtyped``: the same as the ``pbtyped`` command."""

import sys

from .cli import main

sys.exit(main())
