"""Resumable training: checkpoints after every epoch and resuming from them.

- :class:`EpochCheckpoint` saves, after every epoch, what a killed training
  needs to go on: skorch's parameters, optimizer state and history, and the
  torch random state (batch order, augmentation noise).
- :func:`resume_fit` continues a skorch net from the last checkpoint.
"""

import json
import os
import shutil

import torch
from skorch.callbacks import Callback

__all__ = ["EpochCheckpoint", "load_checkpoint", "resume_fit"]

_LATEST = "latest.json"


def _paths(directory):
    return {name: os.path.join(directory, file) for name, file in
            [("f_params", "params.pt"), ("f_optimizer", "optimizer.pt"),
             ("f_history", "history.json"), ("rng", "rng.pt")]}


class EpochCheckpoint(Callback):
    """skorch callback saving a resumable state after every epoch.

    Each epoch is written to a temporary folder that is then renamed to
    ``epoch-<n>`` and named in ``latest.json`` (both renames are atomic),
    so a process killed at any moment leaves the last *completed* epoch
    readable. Older epochs are deleted.

    Parameters
    ----------
    dirname : str or path-like
        Folder of the checkpoints (created if needed).
    fingerprint : dict, default=None
        JSON facts about the training data, stored with each checkpoint and
        compared when resuming.

    Examples
    --------
    >>> from skdeepsphere.checkpoints import EpochCheckpoint
    >>> EpochCheckpoint("checkpoints").dirname
    'checkpoints'
    """

    def __init__(self, dirname, fingerprint=None):
        self.dirname = dirname
        self.fingerprint = fingerprint

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        os.makedirs(self.dirname, exist_ok=True)
        temporary = os.path.join(self.dirname, f".epoch-{epoch}.tmp")
        shutil.rmtree(temporary, ignore_errors=True)
        os.makedirs(temporary)
        paths = _paths(temporary)
        net.save_params(f_params=paths["f_params"], f_optimizer=paths["f_optimizer"],
                        f_history=paths["f_history"])
        torch.save({"torch": torch.get_rng_state()}, paths["rng"])
        final = os.path.join(self.dirname, f"epoch-{epoch}")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temporary, final)
        latest = os.path.join(self.dirname, _LATEST + ".tmp")
        with open(latest, "w") as file:
            json.dump({"epoch": epoch, "folder": f"epoch-{epoch}",
                       "fingerprint": self.fingerprint}, file)
        os.replace(latest, os.path.join(self.dirname, _LATEST))
        for name in os.listdir(self.dirname):
            if name.startswith("epoch-") and name != f"epoch-{epoch}":
                shutil.rmtree(os.path.join(self.dirname, name), ignore_errors=True)


def load_checkpoint(dirname, fingerprint=None):
    """Locate the last completed epoch saved by :class:`EpochCheckpoint`.

    Parameters
    ----------
    dirname : str or path-like
        Folder of the checkpoints.
    fingerprint : dict, default=None
        Facts about the training data that must match the saved ones.

    Returns
    -------
    checkpoint : dict or None
        ``epoch`` and the file paths of the last checkpoint; ``None`` when
        the folder holds none (training then starts from scratch).

    Raises
    ------
    ValueError
        If the checkpoint was written for other training data.

    Examples
    --------
    >>> from skdeepsphere.checkpoints import load_checkpoint
    >>> load_checkpoint("no-such-folder") is None
    True
    """
    latest = os.path.join(dirname, _LATEST)
    if not os.path.isfile(latest):
        return None
    with open(latest) as file:
        saved = json.load(file)
    if fingerprint is not None and saved.get("fingerprint") not in (None, fingerprint):
        differ = sorted(key for key in set(fingerprint) | set(saved["fingerprint"])
                        if fingerprint.get(key) != saved["fingerprint"].get(key))
        raise ValueError(
            f"the checkpoint in {os.fspath(dirname)!r} was written for other training "
            f"data or hyperparameters (they differ in: {', '.join(differ)}); pass the "
            "same X, y and parameters to resume, or use another checkpoint folder"
        )
    return {"epoch": saved["epoch"], **_paths(os.path.join(dirname, saved["folder"]))}


def resume_fit(net, checkpoint, X, y, max_epochs):
    """Continue training a skorch net from a checkpoint up to ``max_epochs``.

    Loads parameters, optimizer state and history with
    ``torch.load(weights_only=True)``, restores the torch random state and
    runs the remaining epochs with :meth:`skorch.NeuralNet.partial_fit`.

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

    Examples
    --------
    >>> from skdeepsphere.checkpoints import resume_fit
    >>> callable(resume_fit)
    True
    """
    net.initialize()
    net.load_params(f_params=checkpoint["f_params"], f_optimizer=checkpoint["f_optimizer"],
                    f_history=checkpoint["f_history"])
    rng = torch.load(checkpoint["rng"], weights_only=True)
    torch.set_rng_state(rng["torch"])
    remaining = max_epochs - len(net.history)
    if remaining > 0:
        net.partial_fit(X, y, epochs=remaining)
    return net
