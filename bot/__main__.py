"""``python -m bot`` runs the ``consentry`` command line."""

import sys

from bot.cli import main

sys.exit(main())
