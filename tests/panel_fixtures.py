"""Synthetic checkpoints in the official layouts for the "sliders" preset, small on the wire, for the Models panel tests.

* BiSeNet (``79999_iter.pth``): the official keys and shapes (tests/data/official-layouts/bisenet), every tensor a
  stride-0 view of one value (``torch.save`` stores one element per tensor), BatchNorm at identity, conv weights
  ``1/fan_in``; the classifier's skin row is 1/channels and the others 0, so every pixel parses as skin.
* e4e (``e4e_ffhq_encode.pt``): ``{"state_dict", "opts", "latent_avg"}`` as e4e's ``coach.py`` saves it; the
  ``encoder.*`` part is the official Encoder4Editing IR-SE50 layout (tests/data/official-layouts/e4e) built as
  above, the ``decoder.*`` part a rosinality StyleGAN2 generator at 32 px (8 W+ rows, the fewest e4e takes; two
  mapping layers) whose mapping, modulation and constant-input tensors are seeded random, its convolutions one random value per
  (output, input) channel pair over the kernel (so W moves the image), other tensors single values: about 20 MB (the 490 MB it stands for is written once, as the
  safetensors copy, when it is first loaded).
* the published e4e direction files (tests/data/public-weights).

:func:`sliders_rows` serves them on a :class:`hubserver.HubServer` and returns manifest rows with their real
sha256 and size (written with ``test_weights.write_manifest``).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import test_weights as tw
import torch
from hubserver import HubServer
from layouts import read_layout

DATA = Path(__file__).parent / "data"
LAYOUTS = DATA / "official-layouts"
#: Decoder side of the synthetic e4e (n_styles = 2 * log2(32) - 2 = 8, the fewest e4e builds).
E4E_SIZE = 32
E4E_OPTS = {"encoder_type": "Encoder4Editing", "stylegan_size": E4E_SIZE, "start_from_latent_avg": True}
SKIN = 1


def _constant(name: str, shape: list[int], dtype: str) -> torch.Tensor:
    """One value per tensor: BatchNorm at identity, PReLU 0.25, weights 1/fan_in, biases 0."""
    if dtype.startswith("int"):
        value = torch.tensor(0, dtype=torch.int64)
    elif name.endswith(("running_var", "bn.weight", "bn1.weight", "bn2.weight")) or ".bn" in name and name.endswith(
            "weight") and len(shape) == 1:
        value = torch.tensor(1.0)
    elif len(shape) == 1 and name.endswith("weight") and "prelu" not in name.lower() and ".1.weight" not in name:
        value = torch.tensor(1.0)
    elif len(shape) == 1:
        value = torch.tensor(0.25 if name.endswith("weight") else 0.0)
    else:
        value = torch.tensor(1.0 / math.prod(shape[1:]))
    return value.expand(*shape) if shape else value.clone()


def constant_state_dict(layout: Path) -> dict[str, torch.Tensor]:
    return {e["name"]: _constant(e["name"], e["shape"], e["dtype"]) for e in read_layout(layout)}


def bisenet_bytes() -> bytes:
    sd = constant_state_dict(LAYOUTS / "bisenet" / "79999_iter.json")
    head = torch.zeros(sd["conv_out.conv_out.weight"].shape)
    head[SKIN] = 1.0 / head.shape[1]
    sd["conv_out.conv_out.weight"] = head
    return tw.torch_bytes(sd)


def e4e_bytes() -> bytes:
    from faceedit.models.stylegan2 import Generator

    encoder = constant_state_dict(LAYOUTS / "e4e" / "encoder_Encoder4Editing_ir_se50.json")
    n_styles = 2 * int(math.log2(E4E_SIZE)) - 2
    encoder = {k: v for k, v in encoder.items() if not k.startswith("styles.") or int(k.split(".")[1]) < n_styles}
    with torch.device("meta"):
        layout = Generator(E4E_SIZE, n_mlp=2, channel_multiplier=1).state_dict()
    g = torch.Generator().manual_seed(0)
    decoder = {}
    for k, v in layout.items():
        random = k.startswith("style.") and k.endswith("weight") or k.endswith("modulation.weight") or k == "input.input"
        if random:
            decoder[k] = torch.randn(v.shape, generator=g)
        elif k.endswith("conv.weight"):  # [1, out, in, k, k]: one random value per (out, in), the same over the kernel
            scale = 0.02 if "to_rgb" in k else 1.0  # colours inside [-1, 1] (to_rgb is not demodulated)
            decoder[k] = (torch.randn(*v.shape[:3], 1, 1, generator=g) * scale).expand(v.shape)
        else:
            decoder[k] = _constant(k, list(v.shape), str(v.dtype).removeprefix("torch."))
    sd = {**{f"encoder.{k}": v for k, v in encoder.items()}, **{f"decoder.{k}": v for k, v in decoder.items()}}
    return tw.torch_bytes({"state_dict": sd, "opts": E4E_OPTS, "latent_avg": torch.randn(512) * 0.1})


def sliders_rows(server: HubServer, bisenet: bytes | None = None, e4e: bytes | None = None) -> list[dict]:
    """Manifest rows of the sliders preset (BiSeNet, e4e, e4e's directions, GANSpace), served by ``server``."""
    rows = []
    for name, data in (("bisenet.celebamask_hq", bisenet or bisenet_bytes()), ("e4e.ffhq_encode", e4e or e4e_bytes())):
        row = tw.real_entry(name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        row.pop("unverified", None)
        server.add(row["repo_id"], row["filename"], data)
        rows.append(row)
    for name in ("e4e.direction.smile", "e4e.direction.age", "e4e.direction.pose", "ganspace.ffhq_pca"):
        row = tw.real_entry(name)
        if "layers" in row:  # the synthetic generator has 8 W+ rows, not 18
            row["layers"] = [0, 2 * int(math.log2(E4E_SIZE)) - 2]
        in_repo = "editings/" + row["url"].split("/editings/", 1)[1]
        server.raw[row["url"][len(tw.RAW):]] = (DATA / "public-weights" / "omertov_encoder4editing" / in_repo).read_bytes()
        rows.append(row)
    return rows


PRESETS = """
[presets.sliders]
title = "sliders"
description = "GAN sliders: parser, e4e encoder, e4e directions"
entries = ["bisenet.celebamask_hq", "e4e.ffhq_encode", "e4e.direction.*", "ganspace.ffhq_pca"]
"""
