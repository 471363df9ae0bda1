"""Float32-vs-float64 error of each parity test's computation (how the parity tolerances were derived).

Not a test: ``python tests/measure_parity_error.py [model ...]`` prints, for every reference tensor, the largest
``|ours32 - ours64|`` and ``|official32 - ours64|`` (``ours64``: faceedit's network in float64 on the same,
float64-cast weights and inputs), absolute and divided by ``max |ours64|``.  Each test's tolerance is
``HEADROOM`` (10) times the larger of the two, recorded in ``tests/data/<model>/README.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]
from helpers import float64_error  # noqa: E402

DATA = Path(__file__).parent / "data"
Run = Callable[[torch.dtype], dict[str, torch.Tensor]]


def stylegan2() -> tuple[Run, dict[str, torch.Tensor]]:
    import json

    from layouts import random_state_dict, stylegan_scale
    from safetensors.torch import load_file

    from faceedit.models.stylegan2 import Generator

    t = load_file(DATA / "stylegan2" / "rosinality_64_cm1.safetensors")
    t256 = load_file(DATA / "stylegan2" / "rosinality_256_cm2.safetensors")
    layout = json.loads((DATA / "stylegan2" / "layout_64_cm1.json").read_text())
    sd64 = random_state_dict(layout, seed=1, scale=stylegan_scale)
    sd256 = random_state_dict(DATA / "official-layouts/stylegan2/generator_256_cm2.json", seed=2, scale=stylegan_scale)

    def run(dt: torch.dtype) -> dict[str, torch.Tensor]:
        g = Generator(64, channel_multiplier=1).eval().requires_grad_(False)
        g.load_state_dict(sd64)
        g = g.to(dt)
        c = {k: v.to(dt) for k, v in t.items()}
        out: dict[str, torch.Tensor] = {}
        out["img_z"], out["latent_z"] = g([c["z"]], randomize_noise=False, return_latents=True)
        out["w_of_z"] = g.get_latent(c["z"])
        tl = c["truncation_latent"]
        out["img_trunc"] = g([c["z"][:1]], randomize_noise=False, truncation=0.7, truncation_latent=tl)[0]
        out["img_mix"], out["latent_mix"] = g(
            [c["z"][:1], c["z2"]], randomize_noise=False, inject_index=3, return_latents=True
        )
        out["img_wplus"] = g([c["w_plus"]], input_is_latent=True, randomize_noise=False)[0]
        out["img_wplus_trunc"] = g(
            [c["w_plus"]], input_is_latent=True, randomize_noise=False, truncation=0.5, truncation_latent=tl
        )[0]
        g256 = Generator(256).eval().requires_grad_(False)
        g256.load_state_dict(sd256)
        out["img256"] = g256.to(dt)([t256["z"].to(dt)], randomize_noise=False)[0]
        return out

    return run, {**{k: t[k] for k in ("img_z", "latent_z", "w_of_z", "img_trunc", "img_mix", "latent_mix",
                                      "img_wplus", "img_wplus_trunc")}, "img256": t256["img"]}


def psp() -> tuple[Run, dict[str, torch.Tensor]]:
    from layouts import cached_random_state_dict, psp_scale, random_state_dict, stylegan_scale
    from safetensors.torch import load_file
    from test_psp import E4E_OPTS, PSP_OPTS

    from faceedit.models.encoders import Encoder4Editing, GradualStyleEncoder
    from faceedit.models.psp import load_e4e, load_psp

    lay = DATA / "official-layouts"
    enc = cached_random_state_dict(str(lay / "e4e/encoder_Encoder4Editing_ir_se50.json"), 3, psp_scale)
    dec = random_state_dict(lay / "stylegan2/generator_256_cm2.json", seed=4, scale=stylegan_scale)
    sd = {f"encoder.{k}": v for k, v in enc.items() if not any(k.startswith(f"styles.{i}.") for i in range(14, 18))}
    sd.update({f"decoder.{k}": v for k, v in dec.items()})
    refs = {kind: load_file(DATA / "psp" / f"{kind}_reference.safetensors") for kind in ("psp", "e4e")}

    def run(dt: torch.dtype) -> dict[str, torch.Tensor]:
        out = {}
        for kind, loader, opts in (("psp", load_psp, {**PSP_OPTS, "output_size": 256}),
                                   ("e4e", load_e4e, {**E4E_OPTS, "stylegan_size": 256})):
            ref = refs[kind]
            net = loader({"state_dict": sd, "opts": opts, "latent_avg": ref["latent_avg_256"]}).to(dt)
            out[f"{kind}_image_256"], out[f"{kind}_latents_256"] = net(ref["x"].to(dt), return_latents=True)
            e = (GradualStyleEncoder(3, 18) if kind == "psp" else Encoder4Editing(1024)).eval()
            e.load_state_dict(enc)
            out[f"{kind}_codes18"] = e.to(dt)(ref["x"].to(dt))
        return out

    expected = {}
    for kind in ("psp", "e4e"):
        expected[f"{kind}_image_256"] = refs[kind]["image_256"]
        expected[f"{kind}_latents_256"] = refs[kind]["latents_256"]
        expected[f"{kind}_codes18"] = refs[kind]["codes18"]
    return run, expected


def bisenet() -> tuple[Run, dict[str, torch.Tensor]]:
    import json

    from safetensors.torch import load_file
    from test_bisenet import seeded_state_dict

    from faceedit.models.bisenet import load_bisenet

    layout = json.loads((DATA / "official-layouts/bisenet/79999_iter.json").read_text())
    sd = seeded_state_dict(layout)
    ref = load_file(DATA / "bisenet" / "reference_128.safetensors")
    ref2 = load_file(DATA / "bisenet" / "reference_96x80_parser.safetensors")

    def run(dt: torch.dtype) -> dict[str, torch.Tensor]:
        net = load_bisenet(sd).to(dt)
        out, out16, out32 = net(ref["x1"].to(dt))
        return {"out1": out, "out16_1_stride4": out16[:, :, ::4, ::4], "out32_1_stride4": out32[:, :, ::4, ::4],
                "out2": net.parse_logits(ref2["x2"].to(dt))}

    return run, {**{k: ref[k] for k in ("out1", "out16_1_stride4", "out32_1_stride4")}, "out2": ref2["out2"]}


def l2m() -> tuple[Run, dict[str, torch.Tensor]]:
    import l2m_recipe as R
    from safetensors.torch import load_file

    from faceedit.models.l2m import Discriminator, Generator, StyleEncoder, edit_style
    from faceedit.models.wing import FAN

    ref = load_file(DATA / "l2m" / "codes.safetensors")
    xf = ref["x"].float() / 127.5 - 1
    masks = ref["masks"].float() / 255
    out1, out0 = (load_file(DATA / "l2m" / f"generator_whpf{i}.safetensors") for i in (1, 0))
    fan_ref = load_file(DATA / "l2m" / "fan.safetensors")

    def net(module: torch.nn.Module, name: str, dt: torch.dtype) -> torch.nn.Module:
        module.load_state_dict(R.weights(name))
        return module.eval().to(dt)

    def run(dt: torch.dtype) -> dict[str, torch.Tensor]:
        x, m = xf.to(dt), masks.to(dt)
        codes = net(StyleEncoder(256, 64, 2), "style_encoder", dt).codes(x, ref["y"], ref["y_target"])
        out = {k: getattr(codes, k) for k in ("s", "s1", "s2", "s3")}
        out["s_edit1"], out["s_edit05"] = edit_style(codes, 1.0), edit_style(codes, 0.5)
        gen = net(Generator(256, 64, w_hpf=1), "generator", dt)
        out["image_edit"] = gen(x[0:1], out["s_edit1"][0:1])
        out["image_edit_hpf"] = gen(x[0:1], out["s_edit1"][0:1], masks=(m[0:1], m[1:2]))
        out["image_whpf0"] = net(Generator(256, 64, w_hpf=0), "generator_whpf0", dt)(x[1:2], out["s_edit05"][1:2])
        disc = net(Discriminator(256, 2), "discriminator", dt)
        out["d"], out["d_all"] = disc(x, ref["y"]), disc.logits(x)
        out["fan_raw"] = net(FAN(), "fan", dt).get_heatmap(x[0:1], b_preprocess=False)[:, :, ::2, ::2]
        return out

    keys = ("s", "s1", "s2", "s3", "s_edit1", "s_edit05", "d", "d_all")
    return run, {**{k: ref[k] for k in keys}, "image_edit": out1["image_edit"],
                 "image_edit_hpf": out1["image_edit_hpf"], "image_whpf0": out0["image_whpf0"],
                 "fan_raw": fan_ref["fan_raw"]}


def mask_guided() -> tuple[Run, dict[str, torch.Tensor]]:
    import tempfile

    from mask_guided_fixtures import seeded_weights
    from safetensors.torch import load_file

    from faceedit import mask_guided_official as mgo
    from faceedit.models import mask_guided as mg

    ref: dict[str, torch.Tensor] = {}
    for name in ("inputs", "edit", "transfer"):
        ref.update(load_file(DATA / "mask_guided" / f"official_{name}.safetensors"))
    inp = {k.removeprefix("input_"): v.numpy() for k, v in ref.items() if k.startswith("input_")}
    folder = Path(tempfile.mkdtemp(prefix="mg-f64-"))
    for label in (*mg.INFERENCE_LABELS, "P"):
        torch.save(seeded_weights(DATA, label), folder / f"latest_net_{label}.pth")

    def run(dt: torch.dtype) -> dict[str, torch.Tensor]:
        model = mgo.load_official(folder, device="cpu").to(dt)
        as_float = torch.Tensor.float
        if dt == torch.float64:  # the editor casts with .float() and makes float32 zeros; keep float64 here
            torch.Tensor.float = torch.Tensor.double
            torch.set_default_dtype(torch.float64)
        try:
            out = {"edit": model.edit(inp["image_a"], inp["labels_a"], inp["target"], content_image=inp["image_b"])}
            out["edit_random_seed7"] = model.edit(
                inp["image_a"], inp["labels_a"], inp["target"], content_image=inp["image_b"], random_embed=True,
                generator=torch.Generator().manual_seed(7))
            feats_a = model.encode(inp["image_a"], inp["labels_a"])
            feats_b = model.encode(inp["image_b"], inp["labels_b"])
            out["features_a_left_eye"] = feats_a["left_eye"]
            out["reconstruction_a"] = model.generate(feats_a, inp["labels_a"], inp["image_a"])
            mixed = dict(feats_a, left_eye=feats_b["left_eye"], mouth=feats_b["mouth"], hair=feats_b["hair"])
            out["transfer_a_from_b"] = model.generate(mixed, inp["labels_a"], inp["image_a"])
        finally:
            torch.Tensor.float = as_float
            torch.set_default_dtype(torch.float32)
        return out

    keys = ("edit", "edit_random_seed7", "features_a_left_eye", "reconstruction_a", "transfer_a_from_b")
    return run, {k: ref[k] for k in keys}


MODELS = {"stylegan2": stylegan2, "psp": psp, "bisenet": bisenet, "l2m": l2m, "mask_guided": mask_guided}


def main(names: list[str]) -> None:
    torch.set_grad_enabled(False)
    for name in names or list(MODELS):
        run, expected = MODELS[name]()
        ours32, ours64 = run(torch.float32), run(torch.float64)
        print(f"## {name}")
        for key, ref in expected.items():
            e = float64_error(ours32[key], ours64[key], ref)
            print(f"{key:24s} max|f64| {e['scale']:.3g}  ours32 {e['ours']:.3g} ({e['ours_rel']:.3g} rel)  "
                  f"official32 {e['official']:.3g} ({e['official_rel']:.3g} rel)")


if __name__ == "__main__":
    main(sys.argv[1:])
