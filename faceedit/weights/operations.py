"""Which entries serve an operation (the rows' ``operations``), and the capabilities of the GAN engine.

:func:`entries_serving` reads the rows and is what new code uses.  :func:`capabilities` and
:func:`entries_for` evaluate the manifest's ``[capabilities]`` table for ``weights list`` and
``weights fetch --for``; a test keeps that table consistent with the rows.
"""

from __future__ import annotations

import fnmatch

from faceedit.errors import (
    InvalidArgumentError,
)
from faceedit.weights.cache import (
    local_path,
)
from faceedit.weights.manifest import CAPABILITIES, OPERATIONS, _read_manifest, registry

# ----------------------------------------------------------------------------------------------------------
# Capabilities
# ----------------------------------------------------------------------------------------------------------


def capability_requirements() -> dict[str, list[list[str]]]:
    """Per capability: groups of registry names; every group needs one present entry (globs allowed)."""
    return {k: [list(g) for g in v] for k, v in _read_manifest()[1].items()}


def entries_for(capability: str) -> list[str]:
    """The downloadable entries to fetch so that ``capability`` becomes available (empty when it already is).

    Per requirement group that nothing present satisfies: every downloadable match of its globs (e.g. all
    direction files: they are small and each one is a slider), else its first downloadable name.  Groups that
    only manual downloads can satisfy are skipped (:func:`capabilities` stays False for them).
    """
    if capability not in CAPABILITIES:
        raise InvalidArgumentError(f"unknown capability {capability!r}; one of: {', '.join(CAPABILITIES)}")
    specs = registry()
    wanted: list[str] = []
    for group in capability_requirements().get(capability, []):
        globbed = [n for p in group if any(c in p for c in "*?[") for n in fnmatch.filter(specs, p)]
        plain = [p for p in group if p in specs]
        if any(local_path(n) is not None for n in globbed + plain):
            continue
        fetchable = [n for n in globbed if specs[n].downloadable] or [n for n in plain if specs[n].downloadable][:1]
        wanted += [n for n in fetchable if n not in wanted]
    return wanted


def capabilities() -> dict[str, bool]:
    """For each capability of :data:`CAPABILITIES`: whether the GAN weights it needs are present and verified."""
    specs = registry()
    reqs = capability_requirements()
    present_cache: dict[str, bool] = {}

    def present(pattern: str) -> bool:
        for n in fnmatch.filter(specs, pattern) if any(c in pattern for c in "*?[") else [pattern]:
            if n not in present_cache:
                present_cache[n] = n in specs and local_path(n) is not None
            if present_cache[n]:
                return True
        return False

    return {cap: bool(reqs.get(cap)) and all(any(present(p) for p in group) for group in reqs[cap]) for cap in CAPABILITIES}


def entries_serving(operation: str) -> list[str]:
    """Names of the manifest rows whose ``operations`` include ``operation``, in manifest order."""
    if operation not in OPERATIONS:
        raise InvalidArgumentError(f"unknown operation {operation!r}; one of: {', '.join(OPERATIONS)}")
    return [name for name, spec in registry().items() if operation in spec.operations]
