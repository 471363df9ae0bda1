"""Art styles for the page, the CLI and batches: the style picker, stylising a session, editing an artwork,
training a style from one image.  Everything goes through the composer's ``stylise`` editors and the Session.

::

    composer = Composer.from_registry()
    s = Session.from_photo("photo.jpg", composer=composer)
    r = stylise(s, "lite:cartoon")                      # or "anime" / "style.nada.anime" with the art preset
    r = stylise(s, "anime", strength=0.7, values={"smile": 1})   # sliders re-render in the style
    s, (a, b) = open_artwork("painting.png", "anime", composer)  # G_A vs G_B of the artwork's inversion
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faceedit.editors.composer import Composer
from faceedit.editors.stylise_editors import GanStylise, StyleInfo, lite_styles, resolve_style, styles_dir
from faceedit.errors import InvalidArgumentError, WeightsMissingError
from faceedit.session import Session, prepare_photo

#: What the page and the CLI say when no GAN style is installed.
GAN_STYLES_HINT = ("GAN art styles need the e4e encoder and a style generator: "
                   "`python -m faceedit weights fetch --preset art` (or train one from an artwork with a GPU).")
#: Seconds per DiFa iteration at 1024 px on 2 CPU cores, extrapolated in docs/benchmarks.md (about 10 hours for
#: the 301 iterations); the estimate scales it by the cores available.
CPU_SECONDS_PER_STEP_2_CORES = 116.0


def gan_editor(composer: Composer) -> GanStylise | None:
    """The composer's GAN stylise editor, None without one."""
    return next((e for e in composer.editors_for("stylise", "gan") if isinstance(e, GanStylise)), None)


def available_styles(composer: Composer, engine: str | None = None) -> list[StyleInfo]:
    """The style picker: the GAN styles the composer can render (registry rows present, trained runs), then
    the lite styles; only the lite ones when ``engine`` (or the composer's forced engine) is ``lite``."""
    gan = gan_editor(composer) if (engine or composer.forced) != "lite" else None
    lite = lite_styles() if composer.can("stylise", "lite") else []
    return (gan.styles() if gan is not None else []) + lite


def find_style(composer: Composer, name: str | None, engine: str | None = None) -> StyleInfo:
    """The style named ``name`` (id, or its last part: ``anime``, ``cartoon``); unknown names list the others."""
    return resolve_style(available_styles(composer, engine), name)


def stylise(session: Session, style: str | None, strength: float = 1.0,
            values: dict[str, float] | None = None, engine: str | None = None) -> Any:
    """Stylise the session's face (a new history step), then set the sliders ``values`` (absolute) on top.

    With a GAN style the sliders move the face's W+ and re-render in the style (one generator pass each);
    with a lite style they run the session's attribute engine on the stylised crop.
    """
    info = find_style(session.composer, style, engine)
    result = session.run("stylise", engine=info.engine, style=info.id, strength=strength)
    if not values:
        return result
    return session.set_attributes(values)  # the style stays in the label (the session keeps the step's note)


def style_gallery(session: Session, strength: float = 1.0, styles: list[StyleInfo] | None = None,
                  engine: str | None = None) -> list[tuple[np.ndarray, str]]:
    """The session's current face (aligned crop) in each style, with its label; nothing enters the history."""
    face = prepare_photo(session).face
    out = []
    for info in styles if styles is not None else available_styles(session.composer, engine):
        editor = session.composer.pick("stylise", info.engine, style=info.id)
        out.append((editor.edit(face, style=info.id, strength=strength).crop, f"{info.label} [{info.engine}]"))
    return out


def open_artwork(image: Any, style: str | None, composer: Composer, size: int = 512,
                 engine: str | None = None) -> tuple[Session, tuple[np.ndarray, np.ndarray]]:
    """An uploaded painting or cartoon face: checked, aligned, inverted once, rendered in ``style``.

    Returns the session (its current result: the artwork in ``style``; the sliders then edit it in G_B) and the
    inversion rendered by G_A and by G_B, side by side.
    """
    from faceedit.editors.stylise import check_artwork
    from faceedit.imaging import load_image

    gan = gan_editor(composer) if (engine or composer.forced) != "lite" else None
    if gan is None:
        raise WeightsMissingError("Editing an artwork needs the GAN styles (the artwork is inverted with e4e and "
                                  "re-rendered by an art generator). " + GAN_STYLES_HINT)
    info = find_style(composer, style, engine)
    if info.engine != "gan":
        raise InvalidArgumentError(f"Editing an artwork needs a GAN style; {info.id} is a lite style.")
    img = load_image(Path(image) if isinstance(image, str) else image)
    check_artwork(img)  # no face: a message on what an artwork needs to be aligned
    session = Session.from_photo(img, composer=composer, size=size)
    session.run("stylise", engine="gan", style=info.id, strength=1.0)
    return session, gan.compare(prepare_photo(session).face, info.id)


# ---------------------------------------------------------------------------------------------- training
def training_estimate(cores: int | None = None) -> str:
    """How long DiFa's 301 iterations would take on this CPU, labelled as an estimate."""
    from faceedit.train.difa import estimate_minutes

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = max(1, cores or usable or 1)
    minutes = estimate_minutes(CPU_SECONDS_PER_STEP_2_CORES * 2 / min(n, 16))
    return (f"Training a style needs a CUDA GPU, and none is present. On this machine's CPU ({n} cores) the "
            f"301 DiFa iterations would take about {minutes / 60:.0f} hours (an estimate, extrapolated from one "
            "iteration measured on 2 cores; see docs/benchmarks.md), so training was not started. "
            "On one GPU it takes a few minutes.")


def train_style(target: str | Path, progress: Callable[[int, int, dict[str, float]], None] | None = None,
                out: str | Path | None = None, cuda: bool | None = None) -> Path | str:
    """DiFa from one artwork into the styles folder when CUDA is present (returns the new ``style.json``,
    which the style picker lists at once); without CUDA the estimate (a string) and nothing is started."""
    import torch

    from faceedit.train import difa

    if not (torch.cuda.is_available() if cuda is None else cuda):
        return training_estimate()
    target = Path(target)
    if not target.is_file():
        raise InvalidArgumentError(f"Upload the artwork to learn the style from (got {target}).")
    out = Path(out) if out is not None else styles_dir() / "runs" / f"{target.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    opts = difa.Options(target=str(target), out=str(out), device="cuda")
    dev = torch.device("cuda")
    g_a = difa._load(opts.generator, "generator", dev)
    e4e = difa._load(opts.encoder, "encoder", dev)
    clips = [difa._load(c, "clip", dev) for c in opts.clip_models]
    return difa.train(opts, g_a, e4e.encode, clips, progress=progress)
