"""Editors: one small class per editing technique, aligned space in and out, behind one composer.

:mod:`faceedit.editors.base` defines what they take and return and the operations they serve;
:mod:`faceedit.editors.composer` lists every editor (``EDITORS``) and picks which one runs.
"""
