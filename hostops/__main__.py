"""``python -m hostops``."""

import sys

from hostops.cli import main

sys.exit(main())
