"""``python -m nbtrail``: the same as the ``nbtrail`` command."""

import sys

from .cli import main

sys.exit(main())
