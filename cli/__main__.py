"""`python -m quarterdeck.cli`: the same as the `quarterdeck` command."""

import sys

from quarterdeck.cli import main

sys.exit(main())
