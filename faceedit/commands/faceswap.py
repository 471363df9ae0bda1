"""``python -m faceedit faceswap TARGET SOURCE -o out.png``: the SOURCE face's identity on the TARGET face."""

from __future__ import annotations

import argparse

from faceedit.commands._batch import add_batch_arguments, run_batch_command, wants_batch
from faceedit.commands._io import add_result_arguments, write_result


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``faceswap`` command."""
    p = subparsers.add_parser(
        "faceswap", help="put the face (identity) of SOURCE on a face of TARGET",
        description="Swap a whole face: the identity of a SOURCE face on the TARGET face, keeping the target's "
                    "pose, expression, lighting, hair and background; pasted back into the full TARGET photo. "
                    "FaceShifter (GHOST's weights) when installed, else the lite mesh swap.")
    p.add_argument("photo", metavar="TARGET", help="photo whose face is replaced, or a folder or glob for a batch")
    p.add_argument("source", metavar="SOURCE", help="photo whose face (identity) is used")
    p.add_argument("--target-face", dest="face", type=int, default=0, metavar="N",
                   help="which face of TARGET, largest first (default 0)")
    p.add_argument("--source-face", type=int, default=0, metavar="M",
                   help="which face of SOURCE, largest first (default 0)")
    p.add_argument("--strength", type=float, default=1.0, metavar="S",
                   help="blend strength from 0 (the target) to 1 (the full swap; default)")
    add_batch_arguments(p)
    add_result_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open the target, swap in the source face, write the result; say which engine made it and the similarity."""
    from faceedit.commands._io import composer_of
    from faceedit.errors import NoFaceFoundError
    from faceedit.session import Session

    if wants_batch(args):
        from faceedit.batch import faceswap_process

        return run_batch_command(args, lambda: faceswap_process(
            args.source, args.source_face, args.strength, args.engine, args.crop, composer_of(args)), "faceswap")
    try:
        session = Session.from_photo(args.photo, face_index=args.face, engine=args.engine, composer=composer_of(args))
    except NoFaceFoundError:
        raise NoFaceFoundError("No face was found in the target photo. Use a target photo where a face is clearly "
                               "visible, roughly frontal and not too small.") from None
    result = session.run("face_swap", engine=args.engine, source=args.source, source_face=args.source_face,
                         strength=args.strength)
    status = write_result(result, args, f"face {args.source_face} of {args.source} on face {args.face}, "
                                        f"strength {args.strength:g}")
    similarity = result.scores.get("identity_similarity")
    print("identity similarity to the source: "
          + (f"{similarity:.3f} (ArcFace cosine)" if similarity is not None
             else "not measured (needs the ArcFace backbone: python -m faceedit weights fetch ghost.arcface_backbone)"))
    return status
