"""``python -m faceedit directions``: list the attribute directions this install can use."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("directions", help="list attribute directions (sliders) and where they come from")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--file", action="append", default=[], metavar="PATH",
        help="also list a direction file you trained (safetensors from python -m faceedit.train.boundary)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceedit.directions import DirectionLibrary, load_direction

    lib = DirectionLibrary.from_registry()
    for path in args.file:
        lib.add(load_direction(path), replace_existing=True)
    rows = []
    for name in lib.names():
        d = lib.get(name)
        rows.append(
            {
                "name": name,
                "kind": d.kind,
                "layers": list(d.layers) if d.layers else None,
                "scale": round(d.scale, 6),
                "scale_source": d.scale_source,
                "accuracy": d.accuracy,
                "source": d.source,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no directions available: fetch or import the direction files (python -m faceedit weights ...)")
    else:
        for r in rows:
            layers = "all" if r["layers"] is None else f"{r['layers'][0]}..{r['layers'][1] - 1}"
            print(f"{r['name']:<16} {r['kind']:<12} layers {layers:<7} scale {r['scale']:<9.4f} {r['source']}")
    return 0
