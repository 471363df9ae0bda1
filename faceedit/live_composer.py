"""The process's composer, swapped for a new one when weights are installed: the engine switch-over without a restart.

:class:`LiveComposer` stands where a :class:`~faceedit.editors.composer.Composer` is expected (the page's handlers,
every :class:`~faceedit.session.Session`) and forwards each attribute to the composer current *now*.  When the
download manager (or the Models panel's upload field) installs files, :meth:`LiveComposer.rebuild` builds a new
composer from the registry in the background thread that installed them and swaps it in under one lock; the old
one keeps serving until then.  Models are not reloaded: :func:`faceedit.weights.load_model` keeps every network
loaded once per process, so the new composer shares the old one's networks and loads only the new files.

Nothing else needs clearing: the manifest and preset tables are cached per file modification time,
:func:`faceedit.weights.local_path` looks at the disk on every call (its hash records are keyed by size and
mtime), and the loaded networks are meant to stay.

Sessions compare :attr:`LiveComposer.generation` with the one they were opened under and re-resolve their engine
per operation when it moved (:meth:`faceedit.session.Session._engine`): the next operation of every session,
including those opened on the lite engine, runs on the GAN editors once their weights are present.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from faceedit.editors.composer import Composer

log = logging.getLogger(__name__)


class LiveComposer:
    """A composer holder that forwards to the current composer (see the module docstring)."""

    def __init__(self, composer: Composer | None = None, factory: Callable[[], Composer] | None = None) -> None:
        """``composer``: the first composer (default: ``factory()``); ``factory``: builds the next one on
        :meth:`rebuild` (None: this holder never rebuilds, e.g. a test's explicit composer)."""
        self._lock = threading.Lock()
        self._factory = factory
        self._current = composer if composer is not None else (factory or Composer.from_registry)()
        self._generation = 0
        self._ready = threading.Condition()  # guards _seen (not held while a composer is being built)
        self._seen: set[str] = set()  # registry names a rebuild has taken in (or failed to)
        self.error = ""  # why the last rebuild failed ("" when it did not)

    @property
    def current(self) -> Composer:
        """The composer serving operations now."""
        return self._current

    @property
    def generation(self) -> int:
        """+1 at every swap; a session opened under an older generation re-resolves its engines."""
        return self._generation

    @property
    def rebuilds(self) -> bool:
        """Whether installed files make this holder build a new composer."""
        return self._factory is not None

    def rebuild(self, names: tuple[str, ...] = ()) -> Composer:
        """Build a composer from the registry now and serve it from the next operation on (thread-safe).

        ``names``: the registry rows just installed (see :meth:`took_in`).  A failing build keeps the old
        composer and says why in :attr:`error`.
        """
        if self._factory is None:
            return self._current
        with self._lock:  # one rebuild at a time; readers keep the old composer meanwhile
            try:
                fresh = self._factory()
            except Exception as err:  # noqa: BLE001 - the old composer keeps serving; the panel shows why
                log.exception("composer rebuild failed")
                self.error = f"the new models could not be loaded ({type(err).__name__}: {err})"
                self._took(names)
                return self._current
            self._current, self.error = fresh, ""
            self._generation += 1
        self._took(names)
        log.info("composer rebuilt (generation %d): GAN editors %s", self._generation,
                 ", ".join(sorted({e.name for e in fresh.editors if e.engine == "gan"})) or "none")
        return fresh

    def _took(self, names: tuple[str, ...]) -> None:
        with self._ready:
            self._seen.update(names)
            self._ready.notify_all()

    def took_in(self, names: tuple[str, ...] | list[str], timeout: float = 0.0) -> bool:
        """Whether a rebuild after the installation of ``names`` has finished (waiting up to ``timeout`` s);
        always True for a holder that never rebuilds."""
        if self._factory is None:
            return True
        with self._ready:
            return self._ready.wait_for(lambda: set(names) <= self._seen, timeout=timeout)

    def follow(self, manager: Any) -> LiveComposer:
        """Rebuild whenever ``manager`` (a :class:`~faceedit.weights.manager.DownloadManager`) installs files.

        The manager holds only a weak reference, so a page that is gone stops rebuilding.
        """
        if self._factory is None:
            return self
        ref = weakref.ref(self)

        def installed(event: Any) -> None:
            holder = ref()
            if holder is not None:
                holder.rebuild(tuple(event.names))

        manager.on_installed(installed)
        return self

    def __getattr__(self, name: str) -> Any:  # everything else: the current composer's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._current, name)


def live_composer(composer: Composer | LiveComposer | None = None, manager: Any = None) -> LiveComposer:
    """The page's composer holder: ``composer`` as given (never rebuilt), or one built from the registry that
    follows ``manager`` (default: the process's download manager) and is rebuilt when files arrive."""
    if isinstance(composer, LiveComposer):
        return composer
    if composer is not None:
        return LiveComposer(composer)
    if manager is None:
        from faceedit.weights.manager import default_manager

        manager = default_manager()
    return LiveComposer(factory=Composer.from_registry).follow(manager)
