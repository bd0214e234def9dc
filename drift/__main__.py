"""``python -m drift`` is the ``drift`` command."""

import sys

from drift.cli import main

sys.exit(main())
