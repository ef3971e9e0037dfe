"""``python -m rxrank.cli``: the same as the ``rxrank`` command."""

import sys

from . import main

sys.exit(main())
