"""Latency of the web app's endpoints (not a test): ``python -m benchmarks.app [--repeat 5]`` from the repo root.

Serves the page (lite engine) on 127.0.0.1, drives it with ``gradio_client`` as a script user would,
and times each endpoint end to end (upload, queue, backend, PNG encoding of the full-size result,
download) beside the same backend call on a :class:`~faceedit.session.Session` directly, so the
difference is what the web layer costs.  Photo: ``assets/grace_hopper.jpg`` (512x600).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import median_time  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "assets" / "grace_hopper.jpg"
REFERENCE = REPO / "assets" / "astronaut.png"


def _lip_layer(path: Path) -> str:
    from faceedit import labels as L

    layer = np.zeros((512, 512, 4), np.uint8)
    yy, xx = np.mgrid[:512, :512]
    blob = ((yy - 380) / 18.0) ** 2 + ((xx - 256) / 60.0) ** 2 < 1
    layer[blob, :3] = L.PALETTE[L.INDEX["l_lip"]]
    layer[blob, 3] = 255
    Image.fromarray(layer, "RGBA").save(path)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import torch
    from gradio_client import Client, handle_file

    from faceedit.editors.composer import Composer
    from faceedit.editors.lite import lite_editors
    from faceedit.session import Session

    lite = Composer(lite_editors())  # built once, as the app builds one per process
    from faceedit.ui import MAX_SLIDERS, build_demo, launch_kwargs, painted_labels

    demo = build_demo(engine="lite")
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs())
    tmp = Path(tempfile.mkdtemp())
    try:
        client = Client(demo.local_url, verbose=False)
        session = Session.from_photo(str(PHOTO), engine="lite", composer=lite)
        names = session.attribute_names()
        smile = [0.0] * MAX_SLIDERS
        paint = _lip_layer(tmp / "paint.png")
        new_labels = painted_labels({"layers": [np.asarray(Image.open(paint))]}, session.labels)

        rows = []
        api = median_time(lambda: client.predict(handle_file(str(PHOTO)), api_name="/parse"), args.repeat)
        direct = median_time(lambda: Session.from_photo(str(PHOTO), engine="lite", composer=lite), args.repeat)
        rows.append(("parse (open photo)", api, direct))

        def slider(value: float) -> Callable[[], object]:
            values = list(smile)
            values[names.index("smile")] = value
            return lambda: client.predict(*values, api_name="/attributes")

        flip = iter([1.5, -1.5] * args.repeat)
        api = median_time(lambda: slider(next(flip))(), args.repeat)
        flip2 = iter([1.5, -1.5] * args.repeat)
        direct = median_time(lambda: session.set_attributes({"smile": next(flip2)}), args.repeat)
        rows.append(("attributes (smile ±1.5)", api, direct))

        editor = {"background": None, "layers": [handle_file(paint)], "composite": None}
        api = median_time(lambda: client.predict(editor, api_name="/edit_mask"), args.repeat,
                          after=lambda: client.predict(api_name="/undo"))
        direct = median_time(lambda: session.edit_mask(new_labels), args.repeat, after=session.undo)
        rows.append(("edit_mask (larger lower lip)", api, direct))

        api = median_time(lambda: client.predict(handle_file(str(REFERENCE)), ["eyes", "mouth"], api_name="/swap"),
                          args.repeat)
        direct = median_time(lambda: session.swap(str(REFERENCE), ["eyes", "mouth"]), args.repeat)
        rows.append(("swap (eyes, mouth)", api, direct))

        api = median_time(lambda: client.predict(api_name="/undo"), args.repeat)
        direct = median_time(session.undo, args.repeat)
        rows.append(("undo", api, direct))

        api = median_time(lambda: client.predict("smile", api_name="/animate"), max(1, args.repeat // 2))
        rows.append(("animate (9-frame GIF of smile)", api, float("nan")))
    finally:
        demo.close()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.repeat}")
    print("| endpoint | through the app (s) | Session directly (s) |")
    print("| --- | --- | --- |")
    for name, api, direct in rows:
        print(f"| {name} | {api:.2f} | {'–' if direct != direct else f'{direct:.2f}'} |")


if __name__ == "__main__":
    main()
