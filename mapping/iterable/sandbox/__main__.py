"""`python -m mapping.iterable.sandbox`: the sandbox on its own, same options as `mapping sandbox`."""

import sys

from mapping.iterable.sandbox.cli import main

sys.exit(main())
