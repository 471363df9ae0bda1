"""Session contract: engine choice, errors a person can cause, paste-back, concurrency."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_in_threads

from faceedit.editors.base import PHOTO_OPERATIONS, Editor
from faceedit.editors.composer import Composer
from faceedit.editors.lite import lite_editors
from faceedit.errors import InvalidArgumentError, NoFaceFoundError, WeightsMissingError
from faceedit.session import Session


def _gan_editor(operation: str) -> Editor:
    """A stand-in GAN editor serving ``operation`` (the choice of editor is what these tests check)."""
    return type(f"Fake{operation}", (Editor,), {"name": f"fake {operation}", "operation": operation,
                                                "engine": "gan"})()


def test_faceedit_engine_forces_the_lite_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    every = [_gan_editor(op) for op in PHOTO_OPERATIONS] + lite_editors()
    monkeypatch.delenv("FACEEDIT_ENGINE", raising=False)
    assert Composer(every).engine_for("attributes") == "gan"
    assert Composer.from_registry(classes=[]).forced is None
    monkeypatch.setenv("FACEEDIT_ENGINE", "lite")
    forced = Composer.from_registry(classes=[])  # the environment is read once, when the composer is built
    assert forced.forced == "lite"
    assert {Composer(every, forced=forced.forced).engine_for(op) for op in PHOTO_OPERATIONS} == {"lite"}
    monkeypatch.delenv("FACEEDIT_ENGINE")
    assert forced.forced == "lite", "not re-read per call"


def test_engine_is_chosen_per_operation() -> None:
    composer = Composer([_gan_editor("attributes"), *lite_editors()])
    assert composer.engine_for("attributes") == "gan"
    assert composer.engine_for("mask_edit") == "lite"
    assert composer.engine_for("swap") == "lite"


def test_forcing_gan_without_weights_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WeightsMissingError, match="weights fetch"):
        Composer(lite_editors(), forced="gan").engine_for("attributes")
    with pytest.raises(InvalidArgumentError, match="lite"):
        Composer(lite_editors(), forced="turbo")
    monkeypatch.setenv("FACEEDIT_ENGINE", "turbo")
    with pytest.raises(InvalidArgumentError, match="lite"):
        Composer.from_registry(classes=[])


def test_a_photo_without_a_face_is_refused_plainly() -> None:
    blank = np.full((256, 256, 3), 200, np.uint8)
    with pytest.raises(NoFaceFoundError):
        Session.from_photo(blank, engine="lite")


def test_results_paste_back_at_the_original_size(astronaut: np.ndarray) -> None:
    wide = np.concatenate([astronaut, astronaut[:, ::-1][:, :300]], 1)  # 512 x 812, face on the left
    s = Session.from_photo(wide, engine="lite")
    assert s.num_faces >= 1 and s.engine_name == "lite" and s.attribute_names() == ["smile", "age", "pose", "pitch"]
    r = s.set_attributes({"smile": 1.5})
    assert r.image.shape == wide.shape and r.crop.shape == (512, 512, 3)
    assert np.array_equal(r.image[:, 520:], wide[:, 520:])  # far from the edited face nothing moves


def test_bad_label_maps_and_components_are_refused(astronaut: np.ndarray) -> None:
    s = Session.from_photo(astronaut, engine="lite")
    with pytest.raises(InvalidArgumentError, match="match the aligned crop"):
        s.edit_mask(np.zeros((100, 100), np.uint8))
    with pytest.raises(InvalidArgumentError, match="0..18"):
        s.edit_mask(np.full((512, 512), 40, np.uint8))
    with pytest.raises(InvalidArgumentError, match="eyes"):
        s.swap(astronaut, ["ears"])
    with pytest.raises(NoFaceFoundError, match="reference photo"):
        s.swap(np.full((200, 200, 3), 128, np.uint8), ["eyes"])


def test_sessions_in_threads_keep_their_own_state(astronaut: np.ndarray) -> None:
    sessions = [Session.from_photo(astronaut, engine="lite") for _ in range(2)]
    wanted = [{"smile": 1.5}, {"pose": -1.0}]
    results: list = [None, None]

    def work(i: int) -> None:
        results[i] = sessions[i].set_attributes(wanted[i])

    run_in_threads(work, 2)
    for i in range(2):
        assert sessions[i].values == wanted[i]
        alone = Session.from_photo(astronaut, engine="lite").set_attributes(wanted[i])
        assert np.array_equal(results[i].image, alone.image)


def test_a_new_operation_plugs_in_with_an_editor_and_one_registration(astronaut: np.ndarray) -> None:
    """The seam the next techniques use: register the operation, give the composer an editor, call it by name."""
    from faceedit.editors.base import OPERATIONS, EditorOutput, register_operation

    register_operation("stylise", "redraw the face in an art style")

    class Invert(Editor):  # stands for a stylisation network: a GAN editor in aligned space
        name, operation, engine, requires = "inverted colours", "stylise", "gan", (("art.*",),)

        def edit(self, face, strength: float = 1.0) -> EditorOutput:
            if not 0 <= strength <= 1:
                raise InvalidArgumentError(f"strength must lie in 0..1; got {strength}")
            out = (face.crop * (1 - strength) + (255 - face.crop) * strength).astype(np.uint8)
            region = (face.labels != 0).astype(np.float32)
            return EditorOutput(crop=np.where(region[..., None] > 0, out, face.crop), region=region,
                                message="stylised")

    assert "stylise" in OPERATIONS
    s = Session.from_photo(astronaut, composer=Composer([Invert(), *lite_editors()]))
    r = s.run("stylise", strength=1.0)
    assert r.engine == "gan" and r.message == "stylised" and r.image.shape == astronaut.shape
    assert not np.array_equal(r.image, astronaut) and np.array_equal(r.image[:, :30], astronaut[:, :30])
    assert np.array_equal(s.undo().image, astronaut)
    with pytest.raises(InvalidArgumentError, match="0..1"):
        s.run("stylise", strength=3.0)
    with pytest.raises(WeightsMissingError, match="stylise"):
        Session.from_photo(astronaut, composer=Composer(lite_editors())).run("stylise", engine="gan")
