"""CPU timings of the GAN engine's L2M-GAN slider and mask-guided edits at the published network sizes.

    python benchmarks/gan_engine_models.py [--threads 2] [--repeats 5]

Random weights (timing does not depend on values), batch 1, fp32.  Through a whole :class:`Session` on the
scikit-image astronaut (aligned crop 512 px, landmark parser): opening the photo (which encodes it for L2M
once), an L2M slider move (one generator pass + paste-back), a first mask edit (the face's component and
background features prepared, one G pass) and later mask edits of the same face (one incremental G pass).  Every mask edit also re-detects the mesh on
the edited crop and encodes the new face for L2M (the engine prepares each new base face for its sliders).
Each figure: one warm-up, then the median of ``--repeats`` calls.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import median_time, threads_and_repeats  # noqa: E402
from faceedit.editors.composer import Composer  # noqa: E402
from faceedit.editors.gan_runtime import GanRuntime  # noqa: E402
from faceedit.editors.l2m import L2MSliders  # noqa: E402
from faceedit.editors.lite import lite_editors  # noqa: E402
from faceedit.editors.lite_texture import dilate  # noqa: E402
from faceedit.editors.mask_guided import MaskGuidedMaskEdit, MaskGuidedSwap  # noqa: E402
from faceedit.labels import COMPONENTS, INDEX  # noqa: E402
from faceedit.mask_guided_official import MaskGuidedEditor  # noqa: E402
from faceedit.models.l2m import Generator, L2MNets, StyleEncoder  # noqa: E402
from faceedit.session import Session  # noqa: E402


def main() -> None:
    args = threads_and_repeats(__doc__.splitlines()[0])
    torch.manual_seed(0)
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut())
    nets = L2MNets(Generator().eval(), StyleEncoder().eval(), fan=None, vgg=None, domains=("not_smiling", "smiling"))
    model = MaskGuidedEditor(with_image_decoders=False, with_parser=False).eval()
    runtime = GanRuntime(device="cpu")
    l2m = L2MSliders(nets, runtime)
    composer = Composer([l2m, MaskGuidedMaskEdit(model, runtime), MaskGuidedSwap(model, runtime), *lite_editors()],
                        forced="gan")
    name = l2m.slider
    rows: list[tuple[str, float]] = []

    rows.append(("open photo (detect, align 512, parse, L2M style encoder)",
                 median_time(lambda: Session.from_photo(photo, engine="gan", composer=composer), args.repeats, warmup=True)))
    s = Session.from_photo(photo, engine="gan", composer=composer)
    values = iter(np.linspace(-1.5, 1.5, 64))
    rows.append((f"L2M slider move ({name}): generator + paste-back",
                 median_time(lambda: s.set_attributes({name: float(next(values))}), args.repeats, warmup=True)))
    lips = np.isin(s.labels, COMPONENTS["mouth"])
    grow = iter(range(2, 40))

    def painted() -> np.ndarray:
        new = s.initial_labels.copy()
        new[dilate(lips, next(grow)) & (new == INDEX["skin"])] = INDEX["l_lip"]
        return new

    def first_edit() -> None:
        fresh = Session.from_photo(photo, engine="gan", composer=composer)
        t0 = time.perf_counter()
        fresh.edit_mask(painted())
        first.append(time.perf_counter() - t0)

    first: list[float] = []
    for _ in range(args.repeats + 1):
        first_edit()
    rows.append(("first mask edit of a face: prepare features + one G pass (+ mesh re-detection)",
                 statistics.median(first[1:])))

    def later_edit() -> None:
        s.edit_mask(painted())
        s.undo()  # back to the original face, whose prepared features stay cached

    s.set_attributes({name: 0.0})  # sliders at 0: a mask edit is not followed by a slider re-render
    s.edit_mask(painted())
    s.undo()
    rows.append(("later mask edit of the same face: one incremental G pass (+ mesh re-detection)",
                 median_time(later_edit, args.repeats, warmup=True)))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32 CPU, batch 1")
    for label, sec in rows:
        print(f"| {label} | {sec * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
