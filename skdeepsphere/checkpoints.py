"""Resumable training: checkpoints after every epoch and resuming from them.

- :class:`EpochCheckpoint` saves, after every epoch, what a killed training
  needs to go on: skorch's parameters, optimizer state and history, and the
  torch random state (batch order, augmentation noise).
- :func:`load_checkpoint` finds the last completed epoch of a fit and
  :func:`resume_fit` continues a skorch net from it.

A checkpoint folder belongs to the package. It is created (or claimed when
empty) with a manifest, ``skdeepsphere-checkpoints.json``; a non-empty
folder without one is refused, so the package never deletes a file it did
not write. Inside, every fit takes its own subfolder ``fit-<digest>``, named
by the digest of its *fingerprint* (training data and hyperparameters): the
candidates and folds of a grid search and its refit each resume their own
state, and concurrent fits of different data never meet. The subfolder's
``latest.json`` names the last completed epoch and lists every entry the
package created there; only those are ever deleted. A lock
(:func:`fcntl.flock`, released by the system when the process dies) makes a
second fit of the same data into the same folder fail at once with a clear
error instead of mixing weights.

::

    checkpoints/                       the folder given as ``checkpoint``
        skdeepsphere-checkpoints.json  manifest: the folder is the package's
        fit-0123456789abcdef/          one fit (data and hyperparameters)
            .lock
            latest.json                last epoch, fingerprint, entries
            epoch-7/                   params.pt optimizer.pt history.json rng.pt
"""

import hashlib
import json
import os
import re
import secrets
import shutil

import torch
from skorch.callbacks import Callback

from ._files import entry, invalid, load_net, read_json, torch_load, write_json

__all__ = ["EpochCheckpoint", "load_checkpoint", "resume_fit"]

_FORMAT = 1
_MANIFEST = "skdeepsphere-checkpoints.json"
_STATE = "latest.json"
_LOCK = ".lock"
_EPOCH = re.compile(r"epoch-([1-9][0-9]*)\Z")
_TEMPORARY = re.compile(r"\.epoch-[1-9][0-9]*-[0-9a-f]{16}\.tmp\Z")
# Written by _files.write_json next to a JSON file while it is replaced.
_JSON_TEMPORARY = re.compile(r"\.(skdeepsphere-checkpoints|latest)\.json\.[0-9a-f]{16}\.tmp\Z")
_FILES = {"f_params": "params.pt", "f_optimizer": "optimizer.pt",
          "f_history": "history.json", "rng": "rng.pt"}


def _fit_name(fingerprint):
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))
    return "fit-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _claim(root):
    """Create ``root`` or check that it is the package's; test-write it."""
    manifest = os.path.join(root, _MANIFEST)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the checkpoint folder {root!r}: {error}") from None
    if not os.path.isdir(root):
        raise ValueError(f"the checkpoint folder {root!r} is not a folder")
    if os.path.isfile(manifest) and not os.path.islink(manifest):
        saved = read_json(manifest, "skdeepsphere checkpoint manifest")
        if saved.get("format") != _FORMAT or saved.get("written_by") != "skdeepsphere":
            raise invalid(manifest, f"skdeepsphere checkpoint manifest of format {_FORMAT}")
        return
    others = sorted(name for name in os.listdir(root) if not _JSON_TEMPORARY.match(name))
    if others:
        shown = ", ".join(repr(name) for name in others[:5])
        raise ValueError(
            f"the checkpoint folder {root!r} is not empty and was not created by "
            f"skdeepsphere (it holds {shown}{', ...' if len(others) > 5 else ''}); "
            "pass a new or empty folder: the package deletes its old checkpoints "
            "there and must not touch your files"
        )
    try:
        write_json(manifest, {"format": _FORMAT, "written_by": "skdeepsphere",
                              "layout": "one fit-<digest> folder per fit; see "
                                        "skdeepsphere.checkpoints"})
    except OSError as error:
        raise ValueError(f"cannot write to the checkpoint folder {root!r}: {error}") from None


def _check_state(path, saved, fingerprint):
    """Validate a fit folder's latest.json against the expected fingerprint."""
    if saved.get("format") != _FORMAT:
        raise invalid(path, f"checkpoint state of format {_FORMAT}")
    if not isinstance(saved.get("fingerprint"), dict):
        raise invalid(path, "checkpoint state: the fingerprint of the training data "
                            "is missing, so it cannot be checked")
    if saved["fingerprint"] != fingerprint:
        differ = sorted(key for key in set(fingerprint) | set(saved["fingerprint"])
                        if fingerprint.get(key) != saved["fingerprint"].get(key))
        raise ValueError(
            f"the checkpoint in {os.path.dirname(path)!r} was written for other training "
            f"data or hyperparameters (they differ in: {', '.join(differ)}); pass the "
            "same X, y and parameters to resume, or use another checkpoint folder"
        )
    entries = saved.get("entries")
    if not isinstance(entries, list) or not all(
            isinstance(name, str) and (_EPOCH.match(name) or _TEMPORARY.match(name))
            for name in entries):
        raise invalid(path, "checkpoint state: 'entries' must list epoch-<n> folders")
    epoch, folder = saved.get("epoch"), saved.get("folder")
    if epoch is None and folder is None:
        return saved
    if (isinstance(epoch, bool) or not isinstance(epoch, int) or folder != f"epoch-{epoch}"
            or folder not in entries):
        raise invalid(path, "checkpoint state: 'epoch' and 'folder' must name one of "
                            "its epoch-<n> entries")
    return saved


class EpochCheckpoint(Callback):
    """skorch callback saving a resumable state after every epoch.

    Each epoch is written to a uniquely named temporary folder that is then
    renamed to ``epoch-<n>`` and named in ``latest.json`` (both renames are
    atomic), so a process killed at any moment leaves the last *completed*
    epoch readable. Older epochs written by the package are then deleted,
    and nothing else: see the module description for the folder's layout.

    The folder is claimed, locked and test-written by :meth:`open`, before
    the first epoch (at the start of training if not called before).

    Parameters
    ----------
    dirname : str or path-like
        Folder of the checkpoints: created if needed; if it exists it must
        be empty or a checkpoint folder of the package.
    fingerprint : dict, default=None
        JSON facts about the training data and hyperparameters: each
        distinct fingerprint has its own subfolder, and resuming checks
        that they match. ``None`` is the empty fingerprint.

    Attributes
    ----------
    folder : str
        The subfolder of this fit, ``dirname/fit-<digest>``.

    Raises
    ------
    ValueError
        From :meth:`open`: the folder is not empty and not the package's,
        cannot be written, or another fit of the same data holds it.

    Examples
    --------
    >>> from skdeepsphere.checkpoints import EpochCheckpoint
    >>> saver = EpochCheckpoint("checkpoints", {"n_samples": 40})
    >>> saver.folder
    'checkpoints/fit-...'
    """

    def __init__(self, dirname, fingerprint=None):
        self.dirname = dirname
        self.fingerprint = fingerprint

    @property
    def folder(self):
        return os.path.join(os.fspath(self.dirname), _fit_name(self.fingerprint or {}))

    def open(self):
        """Claim the folder, lock this fit's subfolder, remove its stale entries.

        Returns
        -------
        self : EpochCheckpoint
        """
        if getattr(self, "_lock", None) is not None:
            return self
        root, folder = os.fspath(self.dirname), self.folder
        _claim(root)
        try:
            os.mkdir(folder)
        except FileExistsError:
            pass
        except OSError as error:
            raise ValueError(f"cannot write to the checkpoint folder {root!r}: {error}") from None
        if os.path.islink(folder) or not os.path.isdir(folder):
            raise ValueError(f"{folder!r} is not a checkpoint folder written by skdeepsphere")
        self._lock = _lock(folder)
        try:
            path = os.path.join(folder, _STATE)
            fingerprint = self.fingerprint or {}
            if os.path.islink(path):
                raise invalid(path, "checkpoint state: it is a symbolic link")
            if os.path.lexists(path):
                self._state = _check_state(path, read_json(path, "checkpoint state"),
                                           fingerprint)
            else:
                others = sorted(set(os.listdir(folder)) - {_LOCK})
                if others:
                    raise ValueError(
                        f"{folder!r} holds {others[:5]} but no {_STATE}: it was not "
                        "written by skdeepsphere; remove it or use another checkpoint folder"
                    )
                self._state = {"format": _FORMAT, "fingerprint": fingerprint,
                               "epoch": None, "folder": None, "entries": []}
            self._write_state()  # the test write, before any epoch
            # Temporary folders of a killed run: listed, so the package's.
            self._remove([name for name in self._state["entries"]
                          if name != self._state["folder"]])
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Release the lock (the files stay)."""
        lock = getattr(self, "_lock", None)
        self._lock = None
        if lock is not None:
            os.close(lock)

    def latest(self):
        """The last completed epoch of this fit, as :func:`load_checkpoint`."""
        if getattr(self, "_lock", None) is None:
            raise RuntimeError("call open() first")
        return _completed(self.folder, self._state, os.path.join(self.folder, _STATE))

    def on_train_begin(self, net, **kwargs):
        self._opened_here = getattr(self, "_lock", None) is None
        self.open()

    def on_train_end(self, net, **kwargs):
        if getattr(self, "_opened_here", False):
            self.close()

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        folder, state = self.folder, self._state
        temporary = f".epoch-{epoch}-{secrets.token_hex(8)}.tmp"
        state["entries"].append(temporary)  # listed before it exists: ours to delete
        self._write_state()
        os.mkdir(os.path.join(folder, temporary))
        paths = {key: os.path.join(folder, temporary, file) for key, file in _FILES.items()}
        net.save_params(f_params=paths["f_params"], f_optimizer=paths["f_optimizer"],
                        f_history=paths["f_history"])
        torch.save({"torch": torch.get_rng_state()}, paths["rng"])
        final = f"epoch-{epoch}"
        if final == state["folder"]:  # a new run reaching the old run's last epoch
            state.update(epoch=None, folder=None)
            self._write_state()
        if final in state["entries"]:
            self._remove([final])
        elif os.path.lexists(os.path.join(folder, final)):
            raise ValueError(
                f"{os.path.join(folder, final)!r} exists but was not written by this "
                "checkpoint folder's fits: not overwriting it"
            )
        os.replace(os.path.join(folder, temporary), os.path.join(folder, final))
        old = [name for name in state["entries"] if name not in (temporary, final)]
        state.update(epoch=epoch, folder=final, entries=old + [final])
        self._write_state()
        self._remove(old)

    def _write_state(self):
        try:
            write_json(os.path.join(self.folder, _STATE), self._state)
        except OSError as error:
            raise ValueError(
                f"cannot write to the checkpoint folder {os.fspath(self.dirname)!r}: {error}"
            ) from None

    def _remove(self, names):
        """Delete entries the package listed as its own, then unlist them."""
        for name in names:
            path = os.path.join(self.folder, name)
            if os.path.islink(path) or os.path.isfile(path):
                os.remove(path)  # a link is removed, never followed
            elif os.path.isdir(path):
                shutil.rmtree(path)
        if names:
            self._state["entries"] = [n for n in self._state["entries"] if n not in names]
            self._write_state()


def _lock(folder):
    """An exclusive lock on ``folder/.lock``, or a ValueError if it is held."""
    path = os.path.join(folder, _LOCK)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as error:
        raise ValueError(f"cannot write to the checkpoint folder {folder!r}: {error}") from None
    try:
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt

            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise ValueError(
            f"the checkpoint folder {folder!r} is in use by another fit of the same "
            "data and hyperparameters; wait for it to finish, or give each fit its "
            "own checkpoint folder"
        ) from None
    return descriptor


def _completed(folder, state, source):
    if state["folder"] is None:
        return None
    epoch_folder = entry(folder, state["folder"], source)
    if not os.path.isdir(epoch_folder):
        raise invalid(source, f"checkpoint state: its folder {state['folder']!r} is missing")
    return {"epoch": state["epoch"],
            **{key: entry(epoch_folder, file, source) for key, file in _FILES.items()}}


def load_checkpoint(dirname, fingerprint=None):
    """Locate the last completed epoch saved by :class:`EpochCheckpoint`.

    Parameters
    ----------
    dirname : str or path-like
        Folder of the checkpoints.
    fingerprint : dict, default=None
        Facts about the training data: the fit whose fingerprint is exactly
        this one is looked up.

    Returns
    -------
    checkpoint : dict or None
        ``epoch`` and the file paths of the last checkpoint; ``None`` when
        the folder holds none for this fingerprint (training then starts from
        scratch).

    Raises
    ------
    ValueError
        If the checkpoint's files are malformed (the message names the
        file), point outside the folder, or lack the fingerprint.

    Examples
    --------
    >>> from skdeepsphere.checkpoints import load_checkpoint
    >>> load_checkpoint("no-such-folder") is None
    True
    """
    fingerprint = fingerprint or {}
    folder = os.path.join(os.fspath(dirname), _fit_name(fingerprint))
    path = os.path.join(folder, _STATE)
    if not os.path.lexists(path):
        return None
    if os.path.islink(path):
        raise invalid(path, "checkpoint state: it is a symbolic link")
    return _completed(folder, _check_state(path, read_json(path, "checkpoint state"),
                                           fingerprint), path)


def resume_fit(net, checkpoint, X, y, max_epochs):
    """Continue training a skorch net from a checkpoint up to ``max_epochs``.

    Loads parameters, optimizer state and history (tensors with
    ``torch.load(weights_only=True)``, each file checked), restores the
    torch random state and runs the remaining epochs with
    :meth:`skorch.NeuralNet.partial_fit`.

    Parameters
    ----------
    net : skorch.NeuralNet
        Not yet trained; built as for the interrupted run.
    checkpoint : dict
        From :func:`load_checkpoint`.
    X, y : training data, as given to ``net.fit``.
    max_epochs : int
        Total number of epochs, counting those already done.

    Returns
    -------
    net : skorch.NeuralNet

    Raises
    ------
    ValueError
        If a file of the checkpoint is malformed (the message names it).

    Examples
    --------
    >>> from skdeepsphere.checkpoints import resume_fit
    >>> callable(resume_fit)
    True
    """
    net.initialize()
    load_net(net, f_params=checkpoint["f_params"], f_optimizer=checkpoint["f_optimizer"],
             f_history=checkpoint["f_history"])
    rng = torch_load(checkpoint["rng"], "random state")
    state = rng.get("torch") if isinstance(rng, dict) else None
    try:
        torch.set_rng_state(state)
    except (TypeError, RuntimeError, ValueError):
        raise invalid(checkpoint["rng"], "random state: expected {'torch': "
                                         "torch.get_rng_state()}") from None
    remaining = max_epochs - len(net.history)
    if remaining > 0:
        net.partial_fit(X, y, epochs=remaining)
    return net
