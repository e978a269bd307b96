"""``python -m p7keras`` is the ``p7keras`` command."""

import sys

from p7keras.cli.main import main

sys.exit(main())
