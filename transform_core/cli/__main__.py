"""``python -m transform_core.cli``: the ``transform-core`` command."""

import sys

from transform_core.cli import main

sys.exit(main())
