"""Registry of published checkpoints: where they live, how they are verified, loaded and cached.

The registry is the plain data file ``faceedit/weights/manifest.toml``, read once into frozen :class:`WeightSpec`
rows (one per file).  For each entry this package can

* **fetch** it: from the Hugging Face Hub with ``hf_hub_download`` (pinned revision, progress bar) or from a
  plain HTTPS ``url`` (GitHub raw files at a pinned commit), into :func:`weights_dir`;
* **verify** it: streaming sha256 (and size) against the manifest before first use; a mismatch is refused
  with a message naming the file, the expected and the actual hash;
* **import** a file (or folder) the user downloaded by hand, after checking its hash;
* **load** it safely: ``torch.load(weights_only=True)`` with no extra allowed types (see
  :data:`EXTRA_SAFE_GLOBALS`), ``np.load(allow_pickle=False)``, or safetensors.  After the first verified load
  of a pickle-based checkpoint a safetensors copy plus a JSON sidecar (the non-tensor fields, e.g. pSp's
  ``opts``) is written and read back through safetensors' memory map from then on;
* **build** the network through the entry's ``loader`` (``"module:function"``), once per device, in eval
  mode and frozen (:func:`load_model`);
* report which **capabilities** of the GAN engine the present files enable (:func:`capabilities`).

Offline (``HF_HUB_OFFLINE=1``, or the network is unreachable) a missing file raises :class:`OfflineError`
at once.  Environment: ``FACEEDIT_WEIGHTS_DIR`` (cache root), ``FACEEDIT_MANIFEST`` (another manifest),
``HF_ENDPOINT`` (another Hub), ``FACEEDIT_URL_MIRROR`` (``PREFIX=REPLACEMENT`` rewrite of ``url`` sources).

Modules, one job each: :mod:`.manifest` (reading the manifest), :mod:`.cache` (where files live,
verification, import), :mod:`.download` (Hub and HTTPS), :mod:`.serialisation` (safe loading, safetensors
copies), :mod:`.loading` (the model cache), :mod:`.operations` (which entries serve an operation, what the present files enable).  Every
public name is importable from ``faceedit.weights``.
"""

from faceedit.weights.cache import VerifyResult, import_file, local_path, sha256_file, verify, weights_dir
from faceedit.weights.catalogue import (
    PANEL_COLUMNS,
    UNLOCKS,
    EntryState,
    Offer,
    Preset,
    entry_state,
    family_offers,
    find_preset,
    panel_rows,
    preset_entries,
    preset_offers,
    presets,
)
from faceedit.weights.download import (
    CONNECT_TIMEOUT,
    DownloadCancelled,
    download_entry,
    fetch,
    manual_instructions,
)
from faceedit.weights.loading import (
    clear_model_cache,
    load_model,
    load_verified,
    missing_error,
    resolve_loader,
)
from faceedit.weights.manifest import (
    CAPABILITIES,
    DEFAULT_MANIFEST,
    OPERATIONS,
    WeightSpec,
    manifest_path,
    registry,
    spec_for,
)
from faceedit.weights.operations import capabilities, capability_requirements, entries_for, entries_serving
from faceedit.weights.serialisation import EXTRA_SAFE_GLOBALS, load_checkpoint, save_safetensors_copy

__all__ = [
    "CAPABILITIES",
    "CONNECT_TIMEOUT",
    "DEFAULT_MANIFEST",
    "DownloadCancelled",
    "EXTRA_SAFE_GLOBALS",
    "EntryState",
    "OPERATIONS",
    "Offer",
    "PANEL_COLUMNS",
    "Preset",
    "UNLOCKS",
    "VerifyResult",
    "WeightSpec",
    "capabilities",
    "capability_requirements",
    "clear_model_cache",
    "download_entry",
    "entries_for",
    "entries_serving",
    "entry_state",
    "family_offers",
    "fetch",
    "find_preset",
    "import_file",
    "load_checkpoint",
    "load_model",
    "load_verified",
    "local_path",
    "manifest_path",
    "manual_instructions",
    "missing_error",
    "panel_rows",
    "preset_entries",
    "preset_offers",
    "presets",
    "registry",
    "resolve_loader",
    "save_safetensors_copy",
    "sha256_file",
    "spec_for",
    "verify",
    "weights_dir",
]
