"""``python -m hostops``."""

import sys

from hostops.cli.entry import main

sys.exit(main())
