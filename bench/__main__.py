"""`python -m bench` (what scripts/bench runs from the repo root)."""

import sys

from bench.run import main

sys.exit(main())
