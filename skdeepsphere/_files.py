"""Reading and writing the package's files so that no file can run code or
escape its folder (private).

Every file that :mod:`~skdeepsphere.checkpoints`,
:mod:`~skdeepsphere.persistence` and :mod:`~skdeepsphere._cache` read may come
from someone else: JSON is parsed as JSON and checked, tensors are read with
``torch.load(weights_only=True)``, names read from a file must be plain
entries of their folder, and any failure is one :class:`ValueError` naming
the file (never a parser's traceback, nor torch's advice to load with
``weights_only=False``). Writes go to a uniquely named temporary file that
is then renamed (atomic), so a killed process leaves either the old or the
new file, and two processes never write the same temporary file.

This module does not import torch at import time.
"""

import json
import os
import re
import secrets

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


class FileFormatError(ValueError):
    """A file that is not what the package wrote (malformed or hostile)."""


def invalid(path, reason):
    """The one error for a file we refuse: names the file and the reason."""
    return FileFormatError(f"{os.fspath(path)!r} is not a valid {reason}")


def read_json(path, what):
    """Parse a JSON file whose top level must be an object.

    Parameters
    ----------
    path : str
    what : str
        What the file should be, for the error message.

    Returns
    -------
    content : dict

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    FileFormatError
        If it cannot be read as a JSON object.
    """
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise invalid(path, f"{what}: {type(error).__name__}: {error}") from None
    if not isinstance(content, dict):
        raise invalid(path, f"{what}: its top level is not a JSON object")
    return content


def unique_temporary(path):
    """A name beside ``path`` that no other process or call uses."""
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")


def write_json(path, content):
    """Write ``content`` as JSON to ``path`` atomically (temporary + rename)."""
    temporary = unique_temporary(path)
    try:
        with open(temporary, "x", encoding="utf-8") as file:
            json.dump(content, file, indent=1)
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.remove(temporary)
        raise


def entry(folder, name, source):
    """``folder/name`` for a ``name`` read from the file ``source``.

    The name must be a plain entry of ``folder`` (no separator, no ``..``,
    not a link): nothing read from a file may point outside its folder.
    """
    if not isinstance(name, str) or not _PLAIN_NAME.match(name) or name in (".", ".."):
        raise invalid(source, f"file of the package: it names {name!r}, which is not "
                              "a plain entry of its folder")
    path = os.path.join(folder, name)
    if os.path.islink(path):
        raise invalid(source, f"file of the package: {name!r} is a symbolic link")
    return path


def torch_load(path, what):
    """``torch.load(path, weights_only=True)``, errors named after the file.

    torch's message on a refused pickle advises to load with
    ``weights_only=False`` (i.e. to run the file's code): it is not passed
    on.
    """
    import pickle

    import torch

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise invalid(path, f"{what}: the file is missing") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
            TypeError, AttributeError, KeyError, IndexError) as error:
        raise invalid(path, f"{what}: it is not a file of tensors written by skdeepsphere "
                            f"({type(error).__name__}); it was not loaded") from None


def load_state_dict(module, path, what):
    """Load the state dict in ``path`` into a torch module or optimizer."""
    state = torch_load(path, what)
    if not isinstance(state, dict):
        raise invalid(path, f"{what}: it does not hold a state dict")
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise invalid(path, f"{what} for this network: {type(error).__name__}: "
                            f"{first_line[:300]}") from None


def check_history(path):
    """skorch's history.json: a list of one dict per epoch, epochs 1, 2, ..."""
    try:
        with open(path, encoding="utf-8") as file:
            history = json.load(file)
    except FileNotFoundError:
        raise invalid(path, "skorch history: the file is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise invalid(path, f"skorch history: {type(error).__name__}: {error}") from None
    if not isinstance(history, list) or not all(
            isinstance(row, dict) and row.get("epoch") == epoch and "batches" in row
            for epoch, row in enumerate(history, start=1)):
        raise invalid(path, "skorch history: expected a list of one entry per epoch, "
                            "numbered 1, 2, ...")
    return history


def load_net(net, *, f_params, f_optimizer, f_history):
    """Load an initialised skorch net's weights, optimizer state and history,
    each file checked (see :func:`load_state_dict`, :func:`check_history`)."""
    from skorch.history import History

    history = check_history(f_history)
    load_state_dict(net.module_, f_params, "network parameters")
    load_state_dict(net.optimizer_, f_optimizer, "optimizer state")
    net.history = History(history)
    return net
