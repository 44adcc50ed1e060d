"""``python -m benchmarks`` (``make bench``): see :mod:`benchmarks.run`."""

import sys

from benchmarks.cpus import pin_from_argv
from transform_core.adapters.allocator import keep_freed_pages

# As the Lambda adapters do at import, before anything loads Polars: the in-process engine contenders then run as
# they would in Lambda (see transform_core/adapters/allocator.py). blueprint and msgspec do not use Polars.
keep_freed_pages()
pin_from_argv(sys.argv[1:])  # --cpus N, also before Polars sizes its thread pool

from benchmarks.run import main  # noqa: E402

sys.exit(main())
