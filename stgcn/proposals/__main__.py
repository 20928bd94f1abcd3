"""``python -m stgcn.proposals``: see :mod:`stgcn.proposals.cli`."""

import sys

from stgcn.proposals.cli import main

sys.exit(main())
