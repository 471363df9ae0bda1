"""``python -m faceedit``: see :mod:`faceedit.cli`."""

from faceedit.cli import main

raise SystemExit(main())
