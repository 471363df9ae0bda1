"""The mask-guided app path's fast G (folded BatchNorm, Winograd residual convs): same numbers as the modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mask_guided_fixtures import synthetic_face_labels

from faceedit import mask_guided_official as mgo
from faceedit.editors.mask_guided import generate_prepared, prepare_face
from faceedit.errors import InvalidArgumentError
from faceedit.models import mask_guided_runtime as mgr


def test_winograd_conv_equals_the_direct_conv_up_to_rounding():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 48, 18, 22, generator=g)
    w = torch.randn(40, 48, 3, 3, generator=g) / 20
    b = torch.randn(40, generator=g)
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    exact = torch.nn.functional.conv2d(xp.double(), w.double(), b.double())
    fast = mgr.winograd_conv3x3(xp, mgr.winograd_weight(w), b)
    assert fast.shape == (1, 40, 18, 22) and fast.dtype == torch.float32
    assert (fast.double() - exact).abs().max().item() < 1e-5
    assert (torch.nn.functional.conv2d(xp, w, b + 1) - fast).abs().max().item() > 0.5  # the bias counts


@pytest.fixture()
def small():
    """A 1/8-width model with non-trivial BatchNorm statistics, so folding them matters."""
    torch.manual_seed(0)
    model = mgo.MaskGuidedEditor(with_image_decoders=False, with_parser=False, div=8)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.3, 3.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    model.eval().requires_grad_(False)
    labels = synthetic_face_labels()
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    return model, image, labels


def _module_pass(model, image, labels, target):
    return model.generate(model.encode(image, labels), target, image)  # plain modules, BatchNorm unfolded


def test_fast_path_equals_the_modules_and_follows_weight_changes(small):
    model, image, labels = small
    target = synthetic_face_labels(eye_y=118, mouth_w=36)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prepared = prepare_face(model, image, labels)
    fast = generate_prepared(model, prepared, target)
    assert (fast - _module_pass(model, image, labels, target)).abs().max().item() <= 1e-5
    # the folded copy lives beside the module: its state dict (the checkpoint's mirror) is untouched
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # a brush stroke and back runs incrementally on the same folded weights
    stroke = target.copy()
    stroke[150:160, 60:75] = 10
    assert (generate_prepared(model, prepared, stroke) - _module_pass(model, image, labels, stroke)).abs().max() <= 1e-5
    assert prepared.incremental.last_fraction < 0.2
    assert (generate_prepared(model, prepared, target) - fast).abs().max().item() <= 1e-5

    # new weights (in place, as load_state_dict writes them): the folded copy and kept activations are rebuilt
    with torch.no_grad():
        for blk in model.G.model[1:10]:
            blk.conv_block[2].running_var.mul_(4.0)
    changed = generate_prepared(model, prepared, target)
    assert (changed - fast).abs().max().item() > 1e-3
    assert (changed - _module_pass(model, image, labels, target)).abs().max().item() <= 1e-5

    model.G.train()
    with pytest.raises(InvalidArgumentError, match="eval"):
        mgr.inference_weights(model.G)


def test_a_model_built_under_inference_mode_still_gets_the_fast_path(small):
    model, image, labels = small
    state = model.state_dict()
    with torch.inference_mode():  # parameters become inference tensors (no version counter)
        fresh = mgo.MaskGuidedEditor(with_image_decoders=False, with_parser=False, div=8)
        fresh.load_state_dict(state)
    fresh.eval()
    fast = generate_prepared(fresh, prepare_face(fresh, image, labels), labels)
    assert (fast - _module_pass(model, image, labels, labels)).abs().max().item() <= 1e-5
