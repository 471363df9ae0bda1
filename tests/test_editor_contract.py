"""The contract every editor keeps, checked for each class the composer registers (``EDITORS``).

Same inputs for all: the astronaut aligned at 256 px and parsed offline, her mirror image as the swap
reference; the GAN editors run the small synthetic networks of the other GAN tests (16 px StyleGAN2, toy
encoders, Gu et al.'s model at 1/32 width, L2M at 64 px).  Each result is an aligned crop of the input's size
and dtype, changes only where the editor says it works (its region, else near what was asked), and values
out of range are refused with a typed error.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from helpers import CountingGenerator, gan_composer
from mask_guided_fixtures import seeded_state_dict
from test_gan_engine import STYLE_DIM, SmallEncoder
from test_gan_integration import _entries, l2m_nets  # noqa: F401 - a fixture used below

from faceedit.directions import Direction, DirectionLibrary
from faceedit.editors.base import OPERATIONS, FaceState
from faceedit.editors.composer import EDITORS, AttributeChain
from faceedit.editors.lite_texture import dilate
from faceedit.errors import FaceEditError, InvalidArgumentError
from faceedit.labels import COMPONENTS, INDEX
from tests import ghost_fixtures as GF

SIZE = 256


@pytest.fixture(scope="module")
def faces(astronaut: np.ndarray) -> tuple[FaceState, FaceState]:
    from faceedit.session import prepare_photo

    face = prepare_photo(astronaut, size=SIZE).face
    reference = prepare_photo(np.ascontiguousarray(astronaut[:, ::-1]), size=SIZE).face
    return face, reference


@pytest.fixture(scope="module")
def composer(l2m_nets):  # noqa: F811 - the fixture imported above
    from faceedit.mask_guided_official import MaskGuidedEditor
    from faceedit.models.mask_guided import load_network

    torch.manual_seed(0)
    gen = CountingGenerator(16, style_dim=STYLE_DIM, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    rng = np.random.default_rng(0)
    directions = DirectionLibrary([Direction("smile", rng.standard_normal((1, STYLE_DIM)), scale=4.0)])
    model = MaskGuidedEditor(with_image_decoders=False, with_parser=False, div=32)
    for i, label in enumerate(model.labels()):
        net = model.network(label)
        load_network(net, seeded_state_dict(_entries(net), 7000 + i), label)
    art = copy.deepcopy(gen)  # an art style: G_A fine-tuned
    with torch.no_grad():
        for name, p in art.named_parameters():
            if name.startswith(("convs.", "conv1.", "input.")):
                p.add_(0.5 * torch.randn_like(p))
    return gan_composer(generator=gen, encoder=SmallEncoder(3, gen.n_latent).eval().requires_grad_(False),
                        seg2face=SmallEncoder(19, gen.n_latent).eval().requires_grad_(False),
                        directions=directions, mask_guided=model.eval().requires_grad_(False), l2m=l2m_nets[0],
                        faceshifter=GF.tiny_nets(), styles={"style.test.toon": art})


def _fresh(face: FaceState) -> FaceState:
    return FaceState(crop=face.crop, labels=face.labels, landmarks=face.landmarks)  # nothing cached


def _check_crop(out_crop: np.ndarray, face: FaceState) -> np.ndarray:
    assert out_crop.shape == face.crop.shape and out_crop.dtype == np.uint8
    changed = np.any(out_crop != face.crop, -1)
    assert changed.any(), "the edit must show"
    return changed


def _confined(out_crop: np.ndarray, face: FaceState, region: np.ndarray | None, near: np.ndarray) -> None:
    """Changes only inside the editor's region when it returns one.

    Without a region (the lite warps: a smooth displacement field over the crop, which may turn the whole
    head) the session pastes wherever the crop changed; then the visible changes (> 8 levels) must lie
    near what was asked, all but a sliver of resampling at the edges of moved parts (under 1 %).
    """
    changed = _check_crop(out_crop, face)
    if region is not None:
        assert not (changed & ~(region > 0)).any(), f"{int((changed & ~(region > 0)).sum())} pixels outside"
        return
    visible = np.abs(out_crop.astype(int) - face.crop).max(-1) > 8
    stray = int((visible & ~dilate(near, 24)).sum())
    assert stray <= 0.01 * visible.sum(), f"{stray} of {int(visible.sum())} visible changes far from the edit"


@pytest.mark.parametrize("cls", EDITORS, ids=lambda c: c.name)
def test_every_editor_keeps_the_contract(cls, composer, faces) -> None:
    editor = next((e for e in composer.editors if type(e) is cls), None)
    assert editor is not None, f"the contract test builds no {cls.name}"
    assert editor.operation in OPERATIONS and editor.engine in ("gan", "lite") and isinstance(editor.requires, tuple)
    assert all(isinstance(g, tuple) and g for g in editor.requires) and (editor.engine == "lite") == (not editor.requires)
    assert isinstance(editor.device, str)
    face, reference = faces
    skin_or_face = face.labels != INDEX["background"]

    if editor.operation == "attributes":
        name = editor.names()[0]
        lo, hi = editor.range(name)
        out = editor.apply(_fresh(face), {name: hi * 0.8})
        _confined(out.crop, face, out.region, skin_or_face)
        chain = AttributeChain(editor.engine, [editor])
        with pytest.raises(InvalidArgumentError, match=f"{lo:g}..{hi:g}"):
            chain.apply(_fresh(face), {name: hi + 1})
        with pytest.raises(InvalidArgumentError, match=name.split()[0]):
            chain.apply(_fresh(face), {"no such slider": 1.0})

    elif editor.operation == "mask_edit":
        new = face.labels.copy()
        lips = np.isin(new, COMPONENTS["mouth"])
        new[dilate(lips, 4) & (new == INDEX["skin"])] = INDEX["l_lip"]
        out = editor.edit_mask(_fresh(face), new)
        assert out.labels is not None and out.labels.shape == face.labels.shape
        _confined(out.crop, face, out.region, new != face.labels)
        with pytest.raises(InvalidArgumentError, match="must match the aligned crop"):
            editor.edit_mask(_fresh(face), new[:100, :100])
        with pytest.raises(InvalidArgumentError, match="0..18"):
            editor.edit_mask(_fresh(face), np.full_like(new, 40))

    elif editor.operation == "swap":
        comps = ("eyes",)
        assert editor.accepts(components=comps)
        out = editor.swap(_fresh(face), reference, comps)
        eyes = np.isin(face.labels, COMPONENTS["eyes"]) | np.isin(reference.labels, COMPONENTS["eyes"])
        _confined(out.crop, face, out.region, eyes)
        with pytest.raises(InvalidArgumentError, match="eyes"):
            editor.swap(_fresh(face), reference, ("ears",))

    elif editor.operation == "random":
        w = editor.sample(42, 0.7)
        image = editor.generate(w)
        assert image.dtype == np.uint8 and image.shape == (16, 16, 3)
        assert np.array_equal(image, editor.generate(editor.sample(42, 0.7))), "a seed is one face"
        with pytest.raises(InvalidArgumentError, match="0..1"):
            editor.sample(42, 1.5)
        with pytest.raises(FaceEditError, match="seed"):
            editor.sample(-1)

    elif editor.operation == "face_swap":
        from faceedit.editors.faceswap_input import SamePhotoError

        out = editor.edit(_fresh(face), source=reference, strength=1.0)
        _confined(out.crop, face, out.region, skin_or_face)
        with pytest.raises(InvalidArgumentError, match="strength"):
            editor.edit(_fresh(face), source=reference, strength=1.5)
        with pytest.raises(SamePhotoError, match="same face of the same photo"):
            editor.edit(_fresh(face), source=_fresh(face))
    elif editor.operation == "stylise":
        style = editor.styles()[-1].id
        assert editor.accepts(style=style) and editor.accepts()
        out = editor.edit(_fresh(face), style=style, strength=1.0)
        assert out.region is not None
        _confined(out.crop, face, out.region, skin_or_face)
        again = editor.edit(FaceState(out.crop, face.labels, face.landmarks, dict(out.cache or {})), style=style)
        assert np.array_equal(again.crop, out.crop), "a stylised face is restyled from its source, not stacked"
        with pytest.raises(InvalidArgumentError, match="0..1"):
            editor.edit(_fresh(face), style=style, strength=1.5)
        with pytest.raises(InvalidArgumentError, match=f"no such style.*{style}"):
            editor.edit(_fresh(face), style="no such style")

    elif editor.operation == "synthesise":
        assert editor.accepts(model=editor.key) and not editor.accepts(model="no such model")
        faces = editor.variations(face.labels, 3, 2, "generated")
        assert [f.shape for f in faces] == [face.crop.shape] * 2 and faces[0].dtype == np.uint8
        assert np.array_equal(faces[1], editor.variations(face.labels, 4, 1, "generated")[0]), "face k is seed + k"
        out = editor.edit(_fresh(face), seed=3, background="photo")
        assert out.labels is not None and np.array_equal(out.labels, face.labels)
        _confined(out.crop, face, out.region, face.labels != INDEX["background"])
        with pytest.raises(InvalidArgumentError, match="must match the aligned crop"):
            editor.edit(_fresh(face), labels=face.labels[:128, :128])
        with pytest.raises(InvalidArgumentError, match="no face"):
            editor.edit(_fresh(face), labels=np.zeros_like(face.labels))
        with pytest.raises(InvalidArgumentError, match="0..18"):
            editor.edit(_fresh(face), labels=np.full_like(face.labels, 40))

    else:  # a new operation must bring its own contract here
        pytest.fail(f"no contract for operation {editor.operation!r}")


def test_every_editor_requires_entries_the_manifest_has() -> None:
    """A typo in an editor's ``requires`` would silently switch it off: each name or glob must match a row."""
    import fnmatch

    from faceedit import weights

    rows = list(weights.registry())
    for cls in EDITORS:
        for group in cls.requires:
            for pattern in group:
                assert fnmatch.filter(rows, pattern), f"{cls.name} requires {pattern!r}, which no manifest row matches"
