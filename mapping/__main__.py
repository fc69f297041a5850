"""Run the workbench's command line: `python -m mapping --help`."""

import sys

from mapping.cli import main

sys.exit(main())
