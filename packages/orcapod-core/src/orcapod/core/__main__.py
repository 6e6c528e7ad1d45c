"""``python -m orcapod.core`` runs the ``orcapod`` command line."""

import sys

from orcapod.core.cli import main

sys.exit(main())
