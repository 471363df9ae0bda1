"""Small helpers shared by several test modules (imported as ``helpers``; tests/ is on ``sys.path``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import numpy as np

from faceedit.models.stylegan2 import Generator


class CountingGenerator(Generator):
    """StyleGAN2 that counts its synthesis calls (in the class attribute ``calls``; tests reset it to 0)."""

    calls = 0

    def synthesis(self, w_plus, *args, **kwargs):  # type: ignore[override]
        type(self).calls += 1
        return super().synthesis(w_plus, *args, **kwargs)


def run_in_threads(work: Callable[[int], None], n: int) -> None:
    """Run ``work(0)`` … ``work(n - 1)`` in ``n`` threads at once; wait for all, then re-raise the first error."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as err:  # noqa: BLE001 - handed to the test below
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def gan_composer(*, generator=None, encoder=None, directions=None, seg2face=None, mask_guided=None, l2m=None,
                 faceshifter=None, parser=None, forced: str | None = None, lite: bool = True, styles=None,
                 styles_root=None):
    """A composer with the GAN editors the given (small, synthetic) networks allow, plus the lite ones.

    What ``Composer.from_registry`` builds from published weights, from models already in memory.
    """
    from faceedit.editors.composer import Composer
    from faceedit.editors.gan_runtime import GanRuntime, StyleSpace
    from faceedit.editors.interfacegan import InterfaceGanSliders
    from faceedit.editors.l2m import L2MSliders
    from faceedit.editors.lite import lite_editors
    from faceedit.editors.mask_guided import MaskGuidedMaskEdit, MaskGuidedSwap
    from faceedit.editors.random_face import RandomFaces
    from faceedit.editors.reencode import ReencodeSwap
    from faceedit.editors.seg2face import Seg2FaceMaskEdit
    from faceedit.editors.synthesise import GuRandomEmbedding, Seg2FaceMultiModal

    runtime = GanRuntime(device="cpu")
    style = StyleSpace(runtime, generator, encoder) if generator is not None else None
    editors: list = []
    if style is not None and directions is not None:
        editors.append(InterfaceGanSliders(style, directions))
    if l2m is not None:
        editors.append(L2MSliders(l2m, runtime))
    if mask_guided is not None:
        editors.append(MaskGuidedMaskEdit(mask_guided, runtime))
    if style is not None and seg2face is not None:
        editors.append(Seg2FaceMaskEdit(style, seg2face))
    if mask_guided is not None:
        editors.append(MaskGuidedSwap(mask_guided, runtime))
    if style is not None and encoder is not None:
        editors.append(ReencodeSwap(style))
    if style is not None:
        editors.append(RandomFaces(style))
    if faceshifter is not None:  # FaceShifterNets
        from faceedit.editors.face_swap import FaceShifterSwap

        editors.append(FaceShifterSwap(faceshifter, runtime=runtime))
    if style is not None and encoder is not None and (styles or styles_root):  # art styles: id -> G_B
        from faceedit.editors.stylise_editors import GanStylise

        editors.append(GanStylise(style, styles, styles_root=styles_root, registry=False))
    if mask_guided is not None:
        editors.append(GuRandomEmbedding(mask_guided, runtime))
    if style is not None and seg2face is not None:
        editors.append(Seg2FaceMultiModal(seg2face, getattr(seg2face, "decoder", None) or generator, runtime))
    return Composer(editors + (lite_editors() if lite else []), parser=parser, forced=forced)

# --- parity tolerances from the float32-vs-float64 error (tests/measure_parity_error.py) ---------------

# ----------------------------------------------------------------------------- the running app

def client(url: str):
    """A gradio_client for the app at ``url`` (quiet, downloading result files)."""
    from gradio_client import Client

    return Client(url, verbose=False, download_files=True)


def read_rgb(path) -> np.ndarray:
    """An image file as an (H, W, 3) uint8 RGB array."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@contextlib.contextmanager
def served(**build_kwargs):
    """The page (``faceedit.ui.build_demo(**build_kwargs)``) served on 127.0.0.1; yields its URL."""
    from faceedit.ui import build_demo, launch_kwargs

    demo = build_demo(**build_kwargs)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs())
    try:
        yield demo.local_url
    finally:
        demo.close()


import torch  # noqa: E402 - this block is kept apart at the end of the file

#: Parity tolerances are this many times the float32 error measured against a float64 computation.
HEADROOM = 10.0


def float64_error(ours32: torch.Tensor, ours64: torch.Tensor, official32: torch.Tensor) -> dict[str, float]:
    """Largest ``|ours32 - ours64|`` and ``|official32 - ours64|``, absolute and over ``max |ours64|``."""
    exact = ours64.double()
    scale = exact.abs().max().item() or 1.0
    ours = (ours32.double() - exact).abs().max().item()
    official = (official32.double() - exact).abs().max().item()
    return {"scale": scale, "ours": ours, "official": official, "ours_rel": ours / scale, "official_rel": official / scale}


def max_scaled_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``max |actual - expected| / max |expected|``: the error relative to the tensor's magnitude."""
    return ((actual.double() - expected.double()).abs().max() / expected.double().abs().max()).item()
