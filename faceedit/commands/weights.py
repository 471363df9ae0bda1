"""``python -m faceedit weights list | fetch NAME... | verify [NAME...] | import PATH [--name NAME]``."""

from __future__ import annotations

import argparse
import fnmatch

from faceedit.errors import FaceEditError, InvalidArgumentError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``weights`` command and its sub-commands."""
    parser = subparsers.add_parser("weights", help="list, download, verify or import published weights")
    sub = parser.add_subparsers(dest="weights_command", required=True)

    p = sub.add_parser("list", help="every registry entry, whether it is present, and the capabilities")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("fetch", help="download entries (names or globs, e.g. 'interfacegan.*') and verify them")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument(
        "--for", dest="capabilities", action="append", default=[], metavar="CAPABILITY",
        help="also fetch what a capability needs (parse, invert, attributes, mask_edit, swap, random); repeatable",
    )
    p.add_argument(
        "--preset", dest="presets", action="append", default=[], metavar="PRESET",
        help="also fetch a preset's files (sliders, random, mask, faceswap, art; see `weights presets`); repeatable",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("presets", help="the presets: what each unlocks, its size and licences, what is installed")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("verify", help="re-hash the local files against the registry")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("import", help="register a file (or folder) downloaded by hand, after checking its hash")
    p.add_argument("path")
    p.add_argument("--name", default=None, help="registry entry (default: found by sha256 or file name)")
    p.set_defaults(func=cmd_import)


def _expand(patterns: list[str]) -> list[str]:
    from faceedit import weights

    names = list(weights.registry())
    out: list[str] = []
    for pat in patterns:
        hits = fnmatch.filter(names, pat) if any(c in pat for c in "*?[") else [weights.spec_for(pat).name]
        if not hits:
            raise InvalidArgumentError(f"no registry entry matches {pat!r}; see `python -m faceedit weights list`")
        out += [h for h in hits if h not in out]
    return out


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return "?"


def cmd_list(args: argparse.Namespace) -> int:
    from faceedit import weights

    print(f"weights cache: {weights.weights_dir()}")
    for name, spec in weights.registry().items():
        state = "present" if weights.local_path(name) is not None else "missing"
        where = "hub" if spec.repo_id else "url" if spec.url else "manual"
        check = "sha256" if spec.sha256 else "no-hash"
        print(f"{name:44s} {state:8s} {_size(spec.size):>9s}  {where:6s} {check:7s}  {spec.description}")
    caps = weights.capabilities()
    print("capabilities (GAN engine): " + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in caps.items()))
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from faceedit import weights

    names = _expand(args.names) if args.names else []
    for cap in args.capabilities:
        names += [n for n in weights.entries_for(cap) if n not in names]
    for preset in args.presets:
        found, not_yet = weights.preset_entries(preset)
        names += [n for n in found if n not in names]
        if not_yet:
            print(f"{preset}: not in this version's manifest yet: {', '.join(not_yet)}")
    if not names and not args.capabilities and not args.presets:
        raise InvalidArgumentError("name at least one entry, a capability with --for or a preset with --preset")
    failed = 0
    for name in names:
        try:
            path = weights.fetch(name, progress=not args.quiet)
        except FaceEditError as err:
            print(f"error: {err}")
            failed += 1
            continue
        print(f"{name}: {path}")
    return 2 if failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    from faceedit import weights

    names = _expand(args.names) if args.names else None
    results = [r for n in names for r in weights.verify(n)] if names else weights.verify()
    bad = 0
    for r in results:
        if r.status == "missing" and not args.names:
            continue
        print(f"{r.name}: {r.status}: {r.message}")
        bad += r.status in ("mismatch", "missing")
    if not any(r.status != "missing" for r in results) and not args.names:
        print("no registry entries are present")
    return 2 if bad else 0


def cmd_import(args: argparse.Namespace) -> int:
    from faceedit import weights

    dest = weights.import_file(args.path, args.name)
    print(f"imported {args.path} -> {dest}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from faceedit import weights

    for offer in weights.preset_offers():
        nc = "  NON-COMMERCIAL licence terms" if offer.non_commercial else ""
        print(f"{offer.key} ({offer.title}): {offer.state}, {offer.size_text}{nc}")
        print(f"  {offer.description}")
        if offer.unlocks:
            print(f"  unlocks: {'; '.join(offer.unlocks)}")
        for name in offer.manual:
            print(f"  by hand: {name} (`weights import PATH --name {name}`; source: {weights.spec_for(name).source_url})")
        if offer.not_yet:
            print(f"  not in this version's manifest yet: {', '.join(offer.not_yet)}")
    return 0
