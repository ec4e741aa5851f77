"""``python -m rtsync`` -> :func:`rtsync.cli.main`."""

import sys

from rtsync.cli import main

sys.exit(main())
