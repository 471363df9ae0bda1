"""Many photos, one operation: inputs expanded, one result per face, bad files skipped, a summary.

The same layer serves the command line (``python -m faceedit edit photos/ --smile 1 -o out/``, see
:mod:`faceedit.commands._batch`) and the page's batch tab (:func:`zip_batch`: files or zips in, one zip
out, with a progress callback).  An operation plugs in as a per-face function
``process(image, face_index) -> (result image, number of faces in the photo)``, e.g. :func:`edit_process`
or :func:`swap_process`; engines and their models are loaded once per process and shared by every file
(one :class:`~faceedit.editors.composer.Composer` serves every file), so the first file pays for loading and the rest
only for their own work.  Nothing here imports Gradio.
"""

from __future__ import annotations

import glob
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceedit.errors import FaceEditError, InvalidArgumentError, InvalidImageError

if TYPE_CHECKING:
    from faceedit.editors.composer import Composer

#: File suffixes a folder, glob or zip member must have to count as a photo.
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
#: At most this many bytes are read from one zip member (an upload limit, as for single photos).
MAX_MEMBER_BYTES = 25 * 1024 * 1024
#: Characters that make an input argument a glob pattern.
GLOB_CHARS = "*?["

#: ``process(image, face_index) -> (result image, faces in the photo)``: one operation on one face.
Process = Callable[[np.ndarray, int], tuple[np.ndarray, int]]
#: ``progress(files finished, files in all, name of the file just finished)``.
Progress = Callable[[int, int, str], None]


@dataclass
class Item:
    """One input photo: a display name and where its bytes come from (a path, or bytes from a zip)."""

    name: str
    source: Path | bytes
    error: str | None = None  # known unusable before reading (e.g. a zip member over the size limit)

    @property
    def stem(self) -> str:
        """The name without folder and suffix (the base of its output names)."""
        return Path(self.name).stem


@dataclass
class Outcome:
    """What became of one input: the outputs written, or why it was skipped."""

    name: str
    outputs: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class BatchReport:
    """Every input's :class:`Outcome`, in input order."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def done(self) -> list[Outcome]:
        """Inputs with at least one result written."""
        return [o for o in self.outcomes if o.error is None]

    @property
    def skipped(self) -> list[Outcome]:
        """Inputs skipped, each with its reason."""
        return [o for o in self.outcomes if o.error is not None]

    def summary(self) -> str:
        """Plain-text summary: counts, then one line per skipped file with the reason."""
        written = sum(len(o.outputs) for o in self.outcomes)
        lines = [f"done: {len(self.done)} of {len(self.outcomes)} photos ({written} results written); "
                 f"skipped: {len(self.skipped)}"]
        lines += [f"skipped {o.name}: {o.error}" for o in self.skipped]
        return "\n".join(lines)


def is_batch_input(spec: str) -> bool:
    """True when ``spec`` names a folder or is a glob pattern (not an existing file)."""
    p = Path(spec)
    return p.is_dir() or (not p.exists() and any(c in spec for c in GLOB_CHARS))


def collect_inputs(specs: Iterable[str]) -> list[Item]:
    """Photos named by folders (their image files, not recursive), glob patterns and plain files, sorted per spec.

    A plain file is taken whatever its suffix (it was named on purpose; a broken one is reported when
    processed); folder and glob matches must have an image suffix (:data:`IMAGE_SUFFIXES`).  Raises
    :class:`InvalidArgumentError` when nothing is found.
    """
    items: list[Item] = []
    seen: set[Path] = set()
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            found = [f for f in sorted(p.iterdir()) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
            where = f"the folder {p}"
        elif p.is_file():
            found, where = [p], str(p)
        else:
            found = [Path(f) for f in sorted(glob.glob(spec))]
            found = [f for f in found if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
            where = f"the pattern {spec!r}"
        if not found:
            raise InvalidArgumentError(f"No photos found in {where} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}).")
        for f in found:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                items.append(Item(str(f), f))
    return items


def parse_faces(text: str | int | None) -> str | int:
    """``"all"``, or a face number (``"largest"`` = 0, then 1 = the next largest, ...)."""
    if text is None:
        return 0
    value = str(text).strip().lower()
    if value == "all":
        return "all"
    if value == "largest":
        return 0
    if value.isdigit():
        return int(value)
    raise InvalidArgumentError(f"--faces takes all, largest or a face number (0 = largest); got {text!r}.")


def output_stems(items: Sequence[Item]) -> list[str]:
    """A distinct output stem per input: its stem, plus its suffix where stems repeat, plus a number after that."""
    stems = [it.stem for it in items]
    names = [s if stems.count(s) == 1 else f"{s}_{Path(it.name).suffix.lstrip('.').lower()}"
             for s, it in zip(stems, items, strict=True)]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):  # the same name and suffix from two folders: number them
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name}{seen[name]}"
    return names


def run_batch(items: Sequence[Item], process: Process, write: Callable[[str, np.ndarray], str], tag: str,
              faces: str | int = 0, progress: Progress | None = None) -> BatchReport:
    """Run ``process`` on every item (face ``faces``, or every face with ``"all"``) and ``write`` each result.

    ``write(base_name, image)`` stores one result and returns where it went.  Output names are
    ``<stem>_<tag>``, with ``_face<N>`` before ``_<tag>`` when ``faces="all"`` and the photo has
    several faces; the ``_<tag>`` part means an output never has its input's name, so results written
    into the input folder cannot overwrite a photo.  A :class:`~faceedit.errors.FaceEditError` on one file (not an image, no face, a face
    number it does not have, ...) skips that file and the rest go on; its reason is in the report.
    """
    from faceedit.imaging import load_image

    report = BatchReport()
    stems = output_stems(items)
    for i, item in enumerate(items):
        outcome = Outcome(item.name, error=item.error)
        try:
            if item.error is not None:
                raise InvalidImageError(item.error)
            image = load_image(item.source)
            first = 0 if faces == "all" else int(faces)
            result, count = process(image, first)
            results = [(first, result)]
            if faces == "all":
                results += [(k, process(image, k)[0]) for k in range(1, count)]
            for k, img in results:
                base = f"{stems[i]}_face{k}_{tag}" if faces == "all" and count > 1 else f"{stems[i]}_{tag}"
                outcome.outputs.append(write(base, img))
        except FaceEditError as err:
            outcome.error = str(err)
        report.outcomes.append(outcome)
        if progress is not None:
            progress(i + 1, len(items), item.name)
    return report


def folder_writer(out_dir: str | Path, inputs: Sequence[Item]) -> Callable[[str, np.ndarray], str]:
    """``write`` for :func:`run_batch`: PNGs in ``out_dir`` (created), never onto one of ``inputs``."""
    from faceedit.imaging import save_image

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"{out} is a file; with several photos -o must be a folder (e.g. out/).")
    if not out.exists() and out.suffix.lower() in IMAGE_SUFFIXES:
        raise InvalidArgumentError(f"{out} looks like an image file name; for a batch -o must be a folder "
                                   f"(e.g. {out.with_suffix('')}/).")
    out.mkdir(parents=True, exist_ok=True)
    protected = {it.source.resolve() for it in inputs if isinstance(it.source, Path)}

    def write(base: str, image: np.ndarray) -> str:
        path = out / f"{base}.png"
        if path.resolve() in protected:  # only possible for odd names; never write over a photo
            raise InvalidArgumentError(f"Refusing to overwrite the input {path}; choose another -o folder.")
        return str(save_image(image, path))

    return write


# ----------------------------------------------------------------------- operations (Session API only)
def edit_process(values: dict[str, float], engine: str | None = None, crop: bool = False,
                 composer: Composer | None = None) -> Process:
    """Sliders at absolute ``values`` on one face (``Session.from_photo`` + ``set_attributes``)."""
    from faceedit.editors.composer import Composer
    from faceedit.session import Session

    composer = composer if composer is not None else Composer.from_registry()

    def process(image: np.ndarray, face: int) -> tuple[np.ndarray, int]:
        session = Session.from_photo(image, face_index=face, engine=engine, composer=composer)
        result = session.set_attributes(values) if values else session.current
        return (result.crop if crop else result.image), session.num_faces

    return process


def swap_process(reference: Any, components: list[str], engine: str | None = None, crop: bool = False,
                 composer: Composer | None = None) -> Process:
    """``components`` from ``reference`` (aligned and parsed once, here) onto one face of each photo."""
    from faceedit.editors.composer import Composer
    from faceedit.session import Session

    composer = composer if composer is not None else Composer.from_registry()
    ref = reference if isinstance(reference, Session) else Session.from_photo(reference, engine=engine,
                                                                            composer=composer)

    def process(image: np.ndarray, face: int) -> tuple[np.ndarray, int]:
        session = Session.from_photo(image, face_index=face, engine=engine, composer=composer)
        result = session.swap(ref, components)
        return (result.crop if crop else result.image), session.num_faces

    return process


def faceswap_process(source: Any, source_face: int = 0, strength: float = 1.0, engine: str | None = None,
                     crop: bool = False, composer: Composer | None = None) -> Process:
    """The identity of face ``source_face`` of ``source`` (aligned once, its identity computed once) on one face
    of each photo (``Session.from_photo`` + ``run("face_swap")``)."""
    from faceedit.editors.composer import Composer
    from faceedit.session import Session, prepare_second_photo

    composer = composer if composer is not None else Composer.from_registry()
    kind = composer.engine_for("face_swap", engine)
    face = prepare_second_photo(source, source_face, 512, lambda c: composer.parse(c, kind), "source")

    def process(image: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        session = Session.from_photo(image, face_index=index, engine=engine, composer=composer)
        result = session.run("face_swap", engine=engine, source=face, strength=strength)
        return (result.crop if crop else result.image), session.num_faces

    return process


def stylise_process(style: str, strength: float = 1.0, values: dict[str, float] | None = None, crop: bool = False,
                    composer: Composer | None = None, engine: str | None = None) -> Process:
    """One face of each photo in an art style (:func:`faceedit.art.stylise`), sliders on top."""
    from faceedit.art import find_style, stylise
    from faceedit.editors.composer import Composer
    from faceedit.session import Session

    composer = composer if composer is not None else Composer.from_registry()
    info = find_style(composer, style, engine)  # an unknown style fails once, before the first photo

    def process(image: np.ndarray, face: int) -> tuple[np.ndarray, int]:
        session = Session.from_photo(image, face_index=face, engine=engine, composer=composer)
        result = stylise(session, info.id, strength, values, engine)
        return (result.crop if crop else result.image), session.num_faces

    return process


# ----------------------------------------------------------------------- zip in, zip out (the page's tab)
def _read_uploads(files: Iterable[str | Path | tuple[str, bytes]]) -> list[Item]:
    """Uploaded files as items: each zip's image members (folders flattened), every other file as itself."""
    items: list[Item] = []
    for f in files:
        if isinstance(f, tuple):
            name, data = f
        else:
            name, data = Path(f).name, Path(f).read_bytes()
        if not zipfile.is_zipfile(io.BytesIO(data)):
            items.append(Item(name, data))
            continue
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in sorted(zf.infolist(), key=lambda m: m.filename):
                member = Path(info.filename)
                if info.is_dir() or member.suffix.lower() not in IMAGE_SUFFIXES or member.name.startswith("."):
                    continue
                if info.file_size > MAX_MEMBER_BYTES:
                    items.append(Item(member.name, b"", error=f"larger than {MAX_MEMBER_BYTES // 2**20} MB"))
                    continue
                items.append(Item(member.name, zf.read(info)))
    if not items:
        raise InvalidArgumentError("No photos in the upload: give image files or a zip of image files.")
    return items


def zip_batch(files: Iterable[str | Path | tuple[str, bytes]], process: Process, out_zip: str | Path,
              tag: str = "edited", faces: str | int = 0, progress: Progress | None = None) -> BatchReport:
    """Photos (paths, ``(name, bytes)`` pairs, or zips of photos) in, ``out_zip`` out (PNGs + ``summary.txt``).

    ``progress`` is called after each photo with (finished, total, name), e.g. to drive a progress bar.
    Bad photos are skipped and named in ``summary.txt`` and the returned report.
    """
    from faceedit.imaging import encode_png

    items = _read_uploads(files)
    with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_STORED) as zf:
        def write(base: str, image: np.ndarray) -> str:
            zf.writestr(f"{base}.png", encode_png(image))
            return f"{base}.png"

        report = run_batch(items, process, write, tag, faces=faces, progress=progress)
        zf.writestr("summary.txt", report.summary() + "\n")
    return report
