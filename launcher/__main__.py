"""``python -m launcher``: the same as the ``sealwatch`` command."""

from launcher.cli import main

raise SystemExit(main())
