"""One module per CLI command (see :mod:`faceedit.cli`)."""
