"""What the Models panel offers: presets and model families, with what each unlocks, its download size,
its licence (non-commercial ones flagged) and whether it is installed and verified.

Presets are the manifest's ``[presets.<key>]`` tables (``title``, ``description``, ``entries`` = names or
globs, ``includes`` = other presets).  A name or glob that matches no row is tolerated: it is reported in
:attr:`Offer.not_yet` (rows that other branches add later, e.g. ``ghost.*``).  Families group the rows by
the first part of their name (``e4e``, ``bisenet``, ...); direction files form the family ``directions``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from faceedit.errors import InvalidArgumentError, WeightsVerificationError
from faceedit.weights.cache import _candidates, local_path
from faceedit.weights.manifest import WeightSpec, manifest_path, registry, spec_for

#: What each operation of a manifest row unlocks in the page.
UNLOCKS: dict[str, str] = {
    "parse": "BiSeNet face parsing (the label map of Paint mask and Swap)",
    "invert": "GAN inversion of photos (GAN sliders, art styles)",
    "attributes": "Attributes tab: GAN sliders",
    "mask_edit": "Paint mask tab: GAN redraw",
    "swap": "Swap components tab: GAN swap",
    "random": "Random face tab",
    "face_swap": "Face swap tab",
    "stylise": "Art styles tab",
    "synthesise": "face synthesis",
}

_NON_COMMERCIAL = re.compile(r"-NC\b|\bNC\b|non-?commercial", re.IGNORECASE)
_UNKNOWN_LICENCE = re.compile(r"not established|unknown|see the authors", re.IGNORECASE)


@dataclass(frozen=True)
class Preset:
    """One ``[presets.<key>]`` table of the manifest."""

    key: str
    title: str
    description: str
    entries: tuple[str, ...]  # registry names or globs
    includes: tuple[str, ...] = ()  # keys of other presets


@dataclass(frozen=True)
class EntryState:
    """One manifest row as the Models panel shows it."""

    name: str
    description: str
    family: str
    state: str  # "verified" (sha256 checked) | "installed" (no published hash) | "partial" | "missing"
    downloadable: bool  # False: Google Drive / Baidu only, import by hand
    size: int | None
    licence: str
    non_commercial: bool
    licence_unknown: bool
    operations: tuple[str, ...]
    slider: str
    source_url: str

    @property
    def present(self) -> bool:
        return self.state in ("verified", "installed")


@dataclass(frozen=True)
class Offer:
    """A preset or a model family: its rows and what they add up to."""

    key: str
    title: str
    description: str
    entries: tuple[EntryState, ...]
    not_yet: tuple[str, ...] = ()  # names/globs that match no row of this manifest (yet)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    @property
    def unlocks(self) -> tuple[str, ...]:
        """What the rows unlock in the page, in :data:`UNLOCKS` order."""
        ops = {op for e in self.entries for op in e.operations}
        return tuple(text for op, text in UNLOCKS.items() if op in ops)

    @property
    def sliders(self) -> tuple[str, ...]:
        return tuple(sorted({e.slider for e in self.entries if e.slider}))

    @property
    def size_known(self) -> int:
        return sum(e.size or 0 for e in self.entries)

    @property
    def size_unknown(self) -> int:
        """How many rows have no known size."""
        return sum(e.size is None for e in self.entries)

    @property
    def size_text(self) -> str:
        """E.g. ``"1.3 GB"``, ``"53 MB + 2 files of unknown size"``, ``"unknown"``."""
        if not self.entries or self.size_unknown == len(self.entries):
            return "unknown"
        text = format_bytes(self.size_known)
        if self.size_unknown:
            text += f" + {self.size_unknown} file{'s' * (self.size_unknown > 1)} of unknown size"
        return text

    @property
    def licences(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.licence for e in self.entries))

    @property
    def non_commercial(self) -> bool:
        return any(e.non_commercial for e in self.entries)

    @property
    def manual(self) -> tuple[str, ...]:
        """Rows only a manual download can supply (Google Drive, Baidu)."""
        return tuple(e.name for e in self.entries if not e.downloadable)

    @property
    def state(self) -> str:
        """``"installed"`` (every row present), ``"partial"``, ``"missing"`` or ``"unavailable"`` (no rows yet)."""
        if not self.entries:
            return "unavailable"
        present = sum(e.present for e in self.entries)
        return "installed" if present == len(self.entries) else "partial" if present else "missing"

    @property
    def verified(self) -> bool:
        """Every row present and checked against a published sha256."""
        return bool(self.entries) and all(e.state == "verified" for e in self.entries)


def format_bytes(n: int) -> str:
    """``53289463`` -> ``"53.3 MB"`` (decimal units, as download pages give them)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


# ----------------------------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------------------------

_presets_cache: dict[tuple[str, float], dict[str, Preset]] = {}


def presets() -> dict[str, Preset]:
    """The manifest's presets by key, in manifest order."""
    from faceedit.weights.manifest import _read_manifest

    _read_manifest()  # the rows are valid (and the file exists) before the presets are read
    path = manifest_path()
    key = (str(path), path.stat().st_mtime)
    if key not in _presets_cache:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]

        table = tomllib.loads(path.read_text(encoding="utf-8")).get("presets", {})
        found: dict[str, Preset] = {}
        for k, row in table.items():
            unknown = set(row) - {"title", "description", "entries", "includes"}
            if unknown or not isinstance(row.get("entries", []), list):
                raise WeightsVerificationError(f"the weights manifest {path}: preset {k!r} has unknown fields {sorted(unknown)}")
            found[k] = Preset(k, row.get("title", k), row.get("description", ""), tuple(row.get("entries", ())),
                              tuple(row.get("includes", ())))
        for p in found.values():
            missing = [i for i in p.includes if i not in found]
            if missing:
                raise WeightsVerificationError(f"the weights manifest {path}: preset {p.key!r} includes unknown {missing}")
        _presets_cache[key] = found
    return dict(_presets_cache[key])


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.lower())


def find_preset(name: str) -> Preset | None:
    """The preset whose key or title is ``name`` (case, spaces, ``_`` and ``-`` ignored), or None."""
    for p in presets().values():
        if _norm(name) in (_norm(p.key), _norm(p.title)):
            return p
    return None


def _expand(patterns: tuple[str, ...] | list[str]) -> tuple[list[str], list[str]]:
    """(registry names matching ``patterns``, in order; the patterns that match nothing)."""
    specs = registry()
    names: list[str] = []
    unmatched: list[str] = []
    for pat in patterns:
        hits = fnmatch.filter(specs, pat) if any(c in pat for c in "*?[") else [pat] if pat in specs else []
        if not hits:
            unmatched.append(pat)
        names += [h for h in hits if h not in names]
    return names, unmatched


def preset_entries(key: str) -> tuple[list[str], list[str]]:
    """(the registry names of preset ``key`` and of the presets it includes; its names/globs not in the manifest)."""
    found = find_preset(key)
    if found is None:
        raise InvalidArgumentError(f"no preset {key!r}; presets: {', '.join(presets())}")
    patterns: list[str] = []
    seen: set[str] = set()

    def walk(p: Preset) -> None:
        if p.key in seen:
            return
        seen.add(p.key)
        for inc in p.includes:
            walk(presets()[inc])
        patterns.extend(x for x in p.entries if x not in patterns)

    walk(found)
    return _expand(patterns)


def resolve_targets(items: list[str]) -> tuple[list[str], list[str]]:
    """Names for preset keys/titles, registry names and globs (``FACEEDIT_MODELS``); (names, not found)."""
    names: list[str] = []
    unmatched: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if find_preset(item) is not None:
            got, missing = preset_entries(item)
        else:
            got, missing = _expand([item])
        names += [n for n in got if n not in names]
        unmatched += missing
    return names, unmatched


# ----------------------------------------------------------------------------------------------------------
# What is installed
# ----------------------------------------------------------------------------------------------------------


def family_of(spec: WeightSpec) -> str:
    """``"directions"`` for direction files, else the first part of the name (``e4e``, ``bisenet``, ...)."""
    return "directions" if spec.kind == "direction" else spec.name.split(".", 1)[0]


def entry_state(name: str) -> EntryState:
    """One row: installed and verified (hashing a file the first time only), its size, licence, unlocks."""
    spec = spec_for(name)
    if local_path(name) is not None:
        state = "verified" if spec.sha256 and spec.kind != "folder" else "installed"
    else:
        parts = [p.with_name(p.name + ".part") for p in _candidates(spec)]
        state = "partial" if any(p.is_file() for p in parts) else "missing"
    return EntryState(
        name=name,
        description=spec.description,
        family=family_of(spec),
        state=state,
        downloadable=spec.downloadable,
        size=spec.size,
        licence=spec.licence,
        non_commercial=bool(_NON_COMMERCIAL.search(spec.licence)),
        licence_unknown=bool(_UNKNOWN_LICENCE.search(spec.licence)) or "licence" in spec.unverified,
        operations=spec.operations,
        slider=spec.slider,
        source_url=spec.source_url,
    )


def preset_offers() -> list[Offer]:
    """Every preset with its rows' state, total size, licences and what it unlocks."""
    offers = []
    for p in presets().values():
        names, not_yet = preset_entries(p.key)
        offers.append(Offer(p.key, p.title, p.description, tuple(entry_state(n) for n in names), tuple(not_yet)))
    return offers


def family_offers() -> list[Offer]:
    """Every model family of the manifest (rows grouped by :func:`family_of`), in manifest order."""
    groups: dict[str, list[str]] = {}
    specs = registry()
    for name, spec in specs.items():
        groups.setdefault(family_of(spec), []).append(name)
    offers = []
    for fam, names in groups.items():
        described = specs[names[0]].description if len(names) == 1 else f"{len(names)} files"
        offers.append(Offer(fam, fam, described, tuple(entry_state(n) for n in names)))
    return offers


#: Column names of :func:`panel_rows`.
PANEL_COLUMNS = ("preset / model", "state", "download", "unlocks", "licence")


def panel_rows(offers: list[Offer]) -> list[list[str]]:
    """One table row per offer for the Models panel (e.g. a ``gr.Dataframe``), in :data:`PANEL_COLUMNS` order."""
    rows = []
    for o in offers:
        state = {"installed": "installed, verified" if o.verified else "installed"}.get(o.state, o.state)
        if o.not_yet:
            state += f" ({', '.join(o.not_yet)} not in this version yet)"
        size = o.size_text + (f"; {len(o.manual)} by hand" if o.manual else "")
        licence = "NON-COMMERCIAL terms: " if o.non_commercial else ""
        licence += " | ".join(o.licences) if o.licences else "-"
        if any(e.licence_unknown for e in o.entries):
            licence += " (some terms not established)"
        rows.append([o.title, state, size, "; ".join(o.unlocks) or "-", licence])
    return rows
