"""``python -m hostops``."""

import sys

from hostops.entry import main

sys.exit(main())
