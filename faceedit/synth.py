"""New faces for a label map, and face-parsing training pairs in CelebAMask-HQ's own layout.

The editors are :mod:`faceedit.editors.synthesise` (operation ``synthesise``); this module is what the page and
the CLI call around them:

* label-map files in and out (:func:`read_label_map`): a **colour map in the page's palette** (RGB / RGBA, or a
  palette PNG such as ``faceedit parse -o labels.png`` writes) or a **CelebAMask-HQ index PNG** (8-bit
  greyscale, values 0..18 in the dataset's own order, as its ``g_mask.py`` writes ``CelebAMask-HQ-mask/<id>.png``);
  anything else is refused with the reason;
* starting points (:func:`templates`): a blank canvas, the parsed example photos of ``assets/``, and the per-pixel
  majority map of a folder of maps (:func:`mean_map`);
* :func:`synthesise`: N variations of a map with the chosen model, seed and background mode;
* :func:`jitter`: a flip that swaps the left/right classes, and a small seeded affine;
* :func:`augment`: image + label pairs written as CelebAMask-HQ ships them (see :data:`LAYOUT_NOTE`).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from faceedit.editors.base import FaceState
from faceedit.editors.synthesise import check_count, check_face_map, check_seed
from faceedit.errors import InvalidArgumentError, InvalidImageError, WeightsMissingError
from faceedit.labels import (
    CELEBAMASK_ORDER,
    FROM_CELEBAMASK,
    INDEX,
    NUM_CLASSES,
    PALETTE,
    TO_CELEBAMASK,
    check_label_map,
)

#: Side every map is brought to (nearest) before synthesis: the aligned crop size.
MAP_SIZE = 512
#: Smallest and largest side of a label-map file.
MIN_SIDE, MAX_SIDE = 256, 2048
#: The models, by the key requests use.
MODELS: dict[str, str] = {"gu": "Gu et al. random embedding", "psp": "pSp seg2face multi-modal"}
#: What a user reads when synthesis is asked of a server without the weights.
SYNTH_HINT = ("New faces for a map need the GAN weights: Gu et al.'s mask-guided networks or pSp "
              "segmentation-to-face, the \"mask painting\" preset (`python -m faceedit weights fetch --preset mask`; "
              "its files are on Google Drive, so that command says how to import them with "
              "`python -m faceedit weights import FILE`). The lite engine cannot draw new faces.")
#: Left/right class pairs a horizontal flip swaps.
MIRROR_PAIRS: tuple[tuple[str, str], ...] = (("l_brow", "r_brow"), ("l_eye", "r_eye"), ("l_ear", "r_ear"))
#: ``FLIP_CLASSES[c]``: the class ``c`` becomes in a mirrored face.
FLIP_CLASSES: np.ndarray = np.arange(NUM_CLASSES, dtype=np.uint8)
for _a, _b in MIRROR_PAIRS:
    FLIP_CLASSES[INDEX[_a]], FLIP_CLASSES[INDEX[_b]] = INDEX[_b], INDEX[_a]
#: Largest affine jitter: rotation (degrees), scale change, shift (share of the side).
AFFINE_LIMITS = (5.0, 0.05, 0.03)
#: CelebAMask-HQ's files (its README and ``face_parsing/Data_preprocessing/g_mask.py``).
IMAGE_DIR, ANNO_DIR, MASK_DIR = "CelebA-HQ-img", "CelebAMask-HQ-mask-anno", "CelebAMask-HQ-mask"
IMAGES_PER_ANNO_FOLDER = 2000
IMAGE_SIDE, MASK_SIDE = 1024, 512
LAYOUT_NOTE = (
    f"{IMAGE_DIR}/<id>.jpg ({IMAGE_SIDE}x{IMAGE_SIDE} RGB JPEG, id not padded, as the dataset ships); "
    f"{ANNO_DIR}/<id // {IMAGES_PER_ANNO_FOLDER}>/<id:05d>_<class>.png ({MASK_SIDE}x{MASK_SIDE} 8-bit masks, "
    "255 = the class, 0 = not; one file per class present, background has none); with combined maps also "
    f"{MASK_DIR}/<id>.png ({MASK_SIDE}x{MASK_SIDE} 8-bit, 0 = background, 1..18 = the classes in g_mask.py's "
    "order skin, nose, eye_g, l_eye, r_eye, l_brow, r_brow, l_ear, r_ear, mouth, u_lip, l_lip, hair, hat, ear_r, "
    "neck_l, neck, cloth)")
ASSETS = Path(__file__).resolve().parent.parent / "assets"
EXAMPLES = ("astronaut.png", "grace_hopper.jpg")


# --------------------------------------------------------------------------- label-map files


def read_label_map(path: str | Path, size: int | None = MAP_SIZE) -> np.ndarray:
    """A label-map file as the 19-class canonical map (resized nearest to ``size``; None keeps it).

    Accepted: a colour map in the page's palette (every pixel exactly one class colour; RGB, RGBA or a palette
    PNG), or a CelebAMask-HQ index PNG (8-bit greyscale, values 0..18 in CelebAMask-HQ's order).
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidArgumentError(f"No label map at {p}.")
    try:
        with Image.open(p) as im:
            im.load()
            mode, img = im.mode, im
            if mode == "L":
                arr = np.asarray(img)
            elif mode in ("RGB", "RGBA", "P"):
                arr = np.asarray(img.convert("RGBA" if mode == "RGBA" or "transparency" in img.info else "RGB"))
            else:
                raise InvalidArgumentError(
                    f"{p.name} is a {mode}-mode image; a label map is a colour PNG in the page's palette or a "
                    "CelebAMask-HQ index PNG (8-bit greyscale, values 0..18).")
    except InvalidArgumentError:
        raise
    except (OSError, ValueError) as err:
        raise InvalidImageError(f"{p.name} is not a readable image: {err}") from None
    labels = _index_labels(arr, p.name) if arr.ndim == 2 else _colour_labels(arr, p.name)
    h, w = labels.shape
    if h != w or not MIN_SIDE <= h <= MAX_SIDE:
        raise InvalidArgumentError(f"{p.name} is {w}x{h}; a label map must be square, {MIN_SIDE} to {MAX_SIDE} "
                                   "pixels a side (an aligned face, e.g. 512x512 as CelebAMask-HQ's maps).")
    if size is not None and h != size:
        labels = cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)
    return labels


def _index_labels(arr: np.ndarray, name: str) -> np.ndarray:
    top = int(arr.max()) if arr.size else 0
    if top >= NUM_CLASSES:
        raise InvalidArgumentError(
            f"{name} is a greyscale image with values up to {top}; a CelebAMask-HQ index map holds 0..18 only "
            "(a colour label map must be saved in RGB).")
    return FROM_CELEBAMASK[arr]


def _colour_labels(arr: np.ndarray, name: str) -> np.ndarray:
    rgb = arr[..., :3]
    if arr.shape[-1] == 4 and (arr[..., 3] < 255).any():
        raise InvalidArgumentError(f"{name} has transparent pixels; a label map gives every pixel a class colour.")
    code = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    keys = (PALETTE[:, 0].astype(np.int32) << 16) | (PALETTE[:, 1].astype(np.int32) << 8) | PALETTE[:, 2]
    order = np.argsort(keys)
    pos = np.clip(np.searchsorted(keys[order], code), 0, NUM_CLASSES - 1)
    known = keys[order][pos] == code
    if not known.all():
        bad = rgb[~known]
        colours = ", ".join(str(tuple(int(v) for v in c)) for c in np.unique(bad, axis=0)[:3])
        raise InvalidArgumentError(
            f"{name} has {int((~known).sum())} pixels in colours that are not class colours of the page's palette "
            f"(e.g. {colours}); paint with the legend's colours only, without smoothing, and save as PNG.")
    return order[pos].astype(np.uint8)


def write_colour_map(labels: np.ndarray, path: str | Path) -> Path:
    """Write a map as an RGB PNG in the page's palette (what :func:`read_label_map` reads back)."""
    p = Path(path)
    Image.fromarray(PALETTE[check_label_map(labels)]).save(p)
    return p


# --------------------------------------------------------------------------- starting points


def blank_map(size: int = MAP_SIZE) -> np.ndarray:
    """The blank canvas: all background."""
    return np.zeros((size, size), np.uint8)


def mean_map(maps: Sequence[np.ndarray] | str | Path, size: int = MAP_SIZE) -> np.ndarray:
    """The per-pixel majority class over maps (a folder of label-map files, or arrays); ties take the lower index."""
    if isinstance(maps, (str, Path)):
        folder = Path(maps)
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() == ".png") if folder.is_dir() else []
        if not files:
            raise InvalidArgumentError(f"{folder} is not a folder of label-map PNGs.")
        maps = [read_label_map(f, size) for f in files]
    if not len(maps):
        raise InvalidArgumentError("The mean map needs at least one label map.")
    counts = np.zeros((NUM_CLASSES, size, size), np.int32)
    for m in maps:
        m = check_label_map(m)
        if m.shape != (size, size):
            m = cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST)
        counts += m[None] == np.arange(NUM_CLASSES, dtype=np.uint8)[:, None, None]
    return counts.argmax(0).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def example_maps(size: int = MAP_SIZE) -> tuple[tuple[str, np.ndarray], ...]:
    """The example photos of ``assets/`` aligned and parsed offline (once per process)."""
    from faceedit.session import prepare_photo

    out = []
    for name in EXAMPLES:
        if (ASSETS / name).exists():
            out.append((Path(name).stem.replace("_", " "), prepare_photo(str(ASSETS / name), size=size).face.labels))
    return tuple(out)


def templates(size: int = MAP_SIZE) -> dict[str, np.ndarray]:
    """Starting maps by name: the blank canvas, each parsed example photo, and their majority ("mean") map."""
    examples = example_maps(size)
    out = {"blank canvas": blank_map(size)}
    out.update({f"example: {name}": m for name, m in examples})
    if examples:
        out["mean of the examples"] = mean_map([m for _, m in examples], size)
    return out


# --------------------------------------------------------------------------- synthesis


@dataclass
class Variation:
    """One drawn face: its seed, picture and map."""

    seed: int
    image: np.ndarray
    labels: np.ndarray


def synthesiser(composer: Any, model: str | None = None) -> Any:
    """The ``synthesise`` editor of ``composer`` (``model`` = ``gu`` / ``psp``), or a plain error naming the preset."""
    eds = composer.editors_for("synthesise", "gan")
    if not eds:
        raise WeightsMissingError(SYNTH_HINT)
    if model in (None, "", "auto"):
        return eds[0]
    key = str(model).strip().lower()
    if key not in MODELS and key not in (m.lower() for m in MODELS.values()):
        raise InvalidArgumentError(f"Unknown model {model!r}; choose from: {', '.join(MODELS)}.")
    for ed in eds:
        if ed.accepts(model=key):
            return ed
    have = ", ".join(e.key for e in eds)
    raise WeightsMissingError(f"The {MODELS.get(key, key)} model's weights are not installed (installed: {have}). "
                              + SYNTH_HINT)


def synthesise(composer: Any, labels: np.ndarray, n: int = 8, seed: int = 0, model: str | None = None,
               background: str = "generated", photo: np.ndarray | None = None) -> list[Variation]:
    """``n`` variations of ``labels`` (seeds ``seed .. seed + n - 1``); ``photo`` the aligned crop for ``photo`` mode."""
    ed = synthesiser(composer, model)
    lab = check_face_map(labels, None if photo is None else photo.shape[0])
    first = check_seed(seed)
    images = ed.variations(lab, first, n, background, photo)
    return [Variation(first + k, img, lab) for k, img in enumerate(images)]


def session_from_image(image: np.ndarray, labels: np.ndarray, composer: Any, editor: Any = None,
                       note: str = "") -> Any:
    """A session on a drawn face (no photo behind it): the picture is the result, like a random face's.

    ``editor`` (the one that drew it) and ``note`` label the first result.
    """
    from faceedit.editors.base import PHOTO_OPERATIONS
    from faceedit.errors import FaceEditError
    from faceedit.session import Session, _detect_crop_landmarks, _Photo

    try:
        landmarks = _detect_crop_landmarks(image)
    except FaceEditError:
        landmarks = None
    face = FaceState(crop=image.copy(), labels=check_label_map(labels).copy(),
                     landmarks=landmarks if landmarks is not None else np.zeros((478, 3), np.float32))
    engines = {op: "gan" if composer.can(op, "gan") else "lite" for op in PHOTO_OPERATIONS}
    session = Session(_Photo(image.copy(), None, face, 1), engines, composer)
    if editor is not None:
        first = session.current
        first.engine, first.device, first.message = editor.engine, editor.device, note
    return session


def take(session: Any, labels: np.ndarray, seed: int, model: str | None = None, background: str = "photo") -> Any:
    """Variation ``seed`` of ``labels`` as the session's current result (a history step; undo goes back)."""
    ed = synthesiser(session.composer, model)
    return session.run("synthesise", engine="gan", labels=labels, seed=seed, background=background, model=ed.key)


# --------------------------------------------------------------------------- augmentation


def flip(labels: np.ndarray) -> np.ndarray:
    """The map mirrored left-right, the left/right classes swapped (a person's left eye stays ``l_eye``)."""
    return FLIP_CLASSES[check_label_map(labels)[:, ::-1]]


def affine(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A small random rotation, scale and shift about the centre (nearest; background comes in at the edges)."""
    rot, scl, shf = AFFINE_LIMITS
    angle, scale = rng.uniform(-rot, rot), 1 + rng.uniform(-scl, scl)
    dx, dy = rng.uniform(-shf, shf, 2) * labels.shape[0]
    m = cv2.getRotationMatrix2D((labels.shape[1] / 2, labels.shape[0] / 2), angle, scale)
    m[:, 2] += (dx, dy)
    out = cv2.warpAffine(labels, m, labels.shape[::-1], flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=0)
    return out, (float(angle), float(scale), float(dx), float(dy))


def jitter(labels: np.ndarray, seed: int, do_flip: bool = False, do_affine: bool = False) -> tuple[np.ndarray, str]:
    """The map after the chosen jitter, drawn from ``seed`` (a flip half the time); a description for the manifest."""
    rng = np.random.default_rng(check_seed(seed))
    out, notes = check_label_map(labels), []
    if do_flip and rng.random() < 0.5:
        out, notes = flip(out), ["flip"]
    if do_affine:
        out, (a, s, dx, dy) = affine(out, rng)
        notes.append(f"rot {a:+.2f} scale {s:.3f} shift {dx:+.1f},{dy:+.1f}")
    return out, "; ".join(notes)


def augment_ids(out: Path) -> int:
    """The next free image id in an output folder (so a second run adds to the first)."""
    folder = out / IMAGE_DIR
    ids = [int(f.stem) for f in folder.glob("*.jpg") if f.stem.isdigit()] if folder.is_dir() else []
    return max(ids) + 1 if ids else 0


def write_pair(out: Path, ident: int, image: np.ndarray, labels: np.ndarray, combined: bool = False) -> list[str]:
    """One image + its masks in CelebAMask-HQ's layout (:data:`LAYOUT_NOTE`); returns the written paths."""
    img_path = out / IMAGE_DIR / f"{ident}.jpg"
    img_path.parent.mkdir(parents=True, exist_ok=True)
    big = cv2.resize(image, (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_LANCZOS4 if image.shape[0] < IMAGE_SIDE
                     else cv2.INTER_AREA)
    Image.fromarray(big).save(img_path, quality=95)
    lab = cv2.resize(check_label_map(labels), (MASK_SIDE, MASK_SIDE), interpolation=cv2.INTER_NEAREST)
    anno = out / ANNO_DIR / str(ident // IMAGES_PER_ANNO_FOLDER)
    anno.mkdir(parents=True, exist_ok=True)
    written = [str(img_path)]
    for name in CELEBAMASK_ORDER[1:]:
        mask = lab == INDEX[name]
        if mask.any():
            p = anno / f"{ident:05d}_{name}.png"
            Image.fromarray(mask.astype(np.uint8) * 255).save(p)
            written.append(str(p))
    if combined:
        p = out / MASK_DIR / f"{ident}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(TO_CELEBAMASK[lab]).save(p)
        written.append(str(p))
    return written


def read_pair_labels(out: Path, ident: int) -> np.ndarray:
    """The canonical map of a written pair, rebuilt from its per-class masks as ``g_mask.py`` does (later wins)."""
    lab = np.zeros((MASK_SIDE, MASK_SIDE), np.uint8)
    anno = out / ANNO_DIR / str(ident // IMAGES_PER_ANNO_FOLDER)
    for name in CELEBAMASK_ORDER[1:]:
        p = anno / f"{ident:05d}_{name}.png"
        if p.exists():
            lab[np.asarray(Image.open(p).convert("L")) != 0] = INDEX[name]
    return lab


MANIFEST_FIELDS = ("id", "image", "masks", "source_map", "model", "seed", "background", "jitter")


def augment(composer: Any, maps: Sequence[str | Path], out: str | Path, per_map: int = 4, seed: int = 0,
            model: str | None = None, do_flip: bool = False, do_affine: bool = False, combined: bool = False,
            progress: Callable[[int, int, str], None] | None = None) -> Path:
    """``per_map`` image + label pairs per map file, written as CelebAMask-HQ ships them; returns the manifest CSV.

    Pair ``k`` of map ``i`` uses seed ``seed + i * per_map + k`` (for the face and the jitter); every map is
    checked before anything is drawn, so a bad file stops the run with its name.
    """
    ed = synthesiser(composer, model)
    count, first = check_count(per_map), check_seed(seed)
    files = [Path(m) for m in maps]
    if not files:
        raise InvalidArgumentError("No label maps given.")
    loaded = []
    for f in files:
        try:
            loaded.append(check_face_map(read_label_map(f)))
        except InvalidArgumentError as err:
            raise InvalidArgumentError(f"{f}: {err}") from None
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "manifest.csv"
    new = not manifest.exists()
    ident = augment_ids(root)
    total = len(files) * count
    with manifest.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, MANIFEST_FIELDS)
        if new:
            writer.writeheader()
        for i, (f, lab) in enumerate(zip(files, loaded, strict=True)):
            for k in range(count):
                s = first + i * count + k
                jittered, how = jitter(lab, s, do_flip, do_affine)
                if not (jittered == INDEX["skin"]).any():
                    jittered, how = lab, ""
                image = ed.variations(jittered, s, 1, "generated")[0]
                paths = write_pair(root, ident, image, jittered, combined)
                writer.writerow({"id": ident, "image": Path(paths[0]).relative_to(root).as_posix(),
                                 "masks": len(paths) - 1, "source_map": str(f), "model": ed.key, "seed": s,
                                 "background": "generated", "jitter": how})
                fh.flush()
                ident += 1
                if progress is not None:
                    progress(i * count + k + 1, total, f.name)
    return manifest

