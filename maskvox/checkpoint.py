"""Checkpoints: safetensors only, loaded strictly, found in a local folder or on the hub.

A model location is either a local folder in the official hub layout (below) or a hub
repo id, fetched through `huggingface_hub` (only the files needed; the local cache and
`HF_HUB_OFFLINE` are honoured). Every mismatch is a `CheckpointError` naming the file and
the first key that differs.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .config import OFFICIAL_SECTIONS, ModelConfig, load_config, save_config
from .errors import CheckpointError, ModelNotAvailableError, UserError
from .fileio import atomic_path
from .limits import check_model_sizes

# Where each module's weights live in `amphion/MaskGCT` (and in any folder of that layout).
OFFICIAL_FILES = {
    "semantic_codec": "semantic_codec/model.safetensors",
    "codec_encoder": "acoustic_codec/model.safetensors",
    "codec_decoder": "acoustic_codec/model_1.safetensors",
    "t2s": "t2s_model/model.safetensors",
    "s2a_1layer": "s2a_model/s2a_model_1layer/model.safetensors",
    "s2a_full": "s2a_model/s2a_model_full/model.safetensors",
    # maskvox's own: the official release has no duration model.
    "duration": "duration_model/model.safetensors",
    "aligner": "aligner/model.safetensors",
}
OFFICIAL_REPO = "amphion/MaskGCT"
# maskvox writes the model sizes beside the weights (the official repo has no config file).
CONFIG_FILE = "config.json"

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ---------------------------------------------------------------------------------------
# Reading and writing state dicts.


def read_state_dict(path: str | Path, keys: set[str] | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file (only `keys`, if given), memory-mapped from disk."""
    return _read_safetensors(path, keys, lambda handle, name: handle.get_tensor(name))


def read_shapes(path: str | Path, keys: set[str] | None = None) -> dict[str, tuple[int, ...]]:
    """The shapes of a safetensors file's tensors (only `keys`, if given), from its header alone."""
    return _read_safetensors(path, keys, lambda handle, name: tuple(handle.get_slice(name).get_shape()))


def _read_safetensors(path: str | Path, keys: set[str] | None, read) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = handle.keys() if keys is None else [k for k in handle.keys() if k in keys]
            return {name: read(handle, name) for name in names}
    except (SafetensorError, OSError, ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint file {path} is not a readable safetensors file: {err}") from None


def check_state_dict(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor | tuple[int, ...]],
                     source: str) -> None:
    """Raise CheckpointError on the first missing key, unexpected key or wrong shape. `found`:
    tensors, or their shapes (`read_shapes`: checked before any weight is read)."""
    for key, tensor in expected.items():
        if key not in found:
            raise CheckpointError(f"{source}: missing key '{key}' (shape {list(tensor.shape)})")
    for key in found:
        if key not in expected:
            raise CheckpointError(f"{source}: unexpected key '{key}'")
    for key, tensor in expected.items():
        shape = tuple(found[key]) if isinstance(found[key], tuple) else tuple(found[key].shape)
        if shape != tuple(tensor.shape):
            raise CheckpointError(f"{source}: key '{key}' has shape {list(shape)}, the model expects {list(tensor.shape)}")


def check_values(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], source: str) -> None:
    """Weights the model keeps as floating point are floating point in the file, and finite:
    integer weights would be cast silently, and NaN weights give NaN audio."""
    for key, tensor in expected.items():
        if not tensor.is_floating_point():
            continue
        value = found[key]
        if not value.is_floating_point():
            raise CheckpointError(f"{source}: key '{key}' holds {value.dtype} values, the model expects floating point")
        if not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{source}: key '{key}' holds NaN or infinite values")


def read_npz(path: str | Path, what: str, max_values: int, error: type[UserError] = UserError) -> dict[str, np.ndarray]:
    """The arrays of an .npz file, each numeric (an object array would need unpickling, which
    maskvox never does) and of at most `max_values` values, both checked from the headers before
    any array is read (a small compressed file can unpack to gigabytes). `error`: the kind raised."""
    path = Path(path)
    unreadable = error(f"{path} is not a readable {what} (.npz of numeric arrays)")
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        raise unreadable from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise unreadable
    with data:
        try:
            for name in data.files:
                shape, dtype = _npy_header(data.zip, name)
                if dtype.kind not in "biuf":
                    raise error(f"{path}: array '{name}' holds {dtype} values, not numbers")
                if math.prod(shape) > max_values:
                    raise error(f"{path}: array '{name}' has shape {list(shape)}, over the limit of "
                                f"{max_values:,} values for a {what}")
            return {name: data[name] for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError):
            raise unreadable from None


def _npy_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    member = f"{name}.npy" if f"{name}.npy" in archive.namelist() else name
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy version {version}")
        shape, _, dtype = read_header(handle)
    return shape, dtype


def load_module(module: nn.Module, path: str | Path, keep_only_expected: bool = False, adapt=None) -> nn.Module:
    """Load a safetensors file into `module` strictly.

    `keep_only_expected`: keys the module does not have are neither read nor reported
    (for loading the first blocks of a deeper model); every key it has must be there.
    `adapt(state) -> state` edits the tensors read before they are checked (e.g. a grown table).
    A module built on the meta device (see `build_on_meta`) takes the loaded tensors as
    they are, without a copy and without the wasted random initialisation.
    """
    expected = module.state_dict()
    keys = set(expected) if keep_only_expected else None
    if adapt is None:  # the shapes from the header first: a mismatch reads no weight
        check_state_dict(expected, read_shapes(path, keys), str(path))
    found = read_state_dict(path, keys=keys)
    if adapt is not None:
        found = adapt(found)
    check_state_dict(expected, found, str(path))
    check_values(expected, found, str(path))
    on_meta = any(t.is_meta for t in expected.values())
    if on_meta:  # assign keeps the loaded dtype; copying (the other path) casts to the module's
        found = {key: value.to(expected[key].dtype) for key, value in found.items()}
    module.load_state_dict(found, strict=True, assign=on_meta)
    if on_meta:
        left = [name for name, t in module.named_buffers() if t.is_meta]
        if left:  # a non-persistent buffer: the module cannot be built on the meta device
            raise RuntimeError(f"{type(module).__name__}: buffer '{left[0]}' is not in the checkpoint")
    return module


# torch.nn.init's in-place initialisers, skipped while a module is built on the meta device.
INITIALISERS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_")


@contextlib.contextmanager
def _initialisers_skipped():
    """torch.nn.init's initialisers as no-ops. On meta tensors they have nothing to fill, yet
    each goes through torch's reference decompositions, whose first use imports dynamo: 1.5 to
    2.5 s of every model load, for nothing."""
    saved = {name: getattr(nn.init, name) for name in INITIALISERS}
    try:
        for name in INITIALISERS:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def build_on_meta(factory):
    """Construct a module without allocating or initialising its weights (load them next)."""
    with torch.device("meta"), _initialisers_skipped():
        return factory()


def official_file(location: str | Path, name: str) -> Path:
    """The local path of module `name`'s weights (OFFICIAL_FILES) at a folder or hub repo."""
    return resolve_files(location, [OFFICIAL_FILES[name]])[OFFICIAL_FILES[name]]


def load_pretrained(location: str | Path, name: str, factory) -> nn.Module:
    """Module `name` built by `factory` (on the meta device) and loaded strictly from `location`."""
    return load_module(build_on_meta(factory), official_file(location, name))


def save_module(module: nn.Module | Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Write a state dict as safetensors, atomically."""
    state = module.state_dict() if isinstance(module, nn.Module) else dict(module)
    tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})


# ---------------------------------------------------------------------------------------
# Finding files: local folder or hub.


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it, but looked up at call time."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "on", "yes", "true"}


HUB_PROBE_SECONDS = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def hub_reachable() -> bool:
    """Whether the hub's host takes a connection, asked once per endpoint with a short timeout:
    huggingface_hub itself retries an unreachable host for half a minute. Behind a proxy only
    the proxy can tell, so the hub is taken to be reachable."""
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return True
    return _connects(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")


@functools.lru_cache(maxsize=8)
def _connects(endpoint: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(endpoint)
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
        with socket.create_connection((url.hostname, port), timeout=HUB_PROBE_SECONDS):
            return True
    except (OSError, ValueError):
        return False


def looks_like_repo_id(location: str) -> bool:
    return bool(_REPO_ID.match(location)) and not Path(location).exists()


def resolve_files(location: str | Path, files: list[str]) -> dict[str, Path]:
    """Map each relative file name to a local path: from `location` if it is a folder,
    else from the hub repo `location` (cache first; download unless offline)."""
    location = str(location)
    folder = Path(location).expanduser()
    if folder.is_dir():
        missing = [name for name in files if not (folder / name).is_file()]
        if missing:
            raise CheckpointError(f"checkpoint folder {folder} is missing {missing[0]}")
        return {name: folder / name for name in files}
    if not looks_like_repo_id(location):
        raise CheckpointError(f"model location {location} is neither a folder nor a hub repo id (owner/name)")
    return {name: _hub_file(location, name) for name in files}


def _hub_file(repo_id: str, filename: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    offline = hub_offline() or not hub_reachable()  # either way, the local cache or one line at once
    try:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                cache_dir=os.environ.get("HF_HUB_CACHE") or None,
                local_files_only=offline,
            )
        )
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if hub_offline() else "the hub could not be reached"
        raise ModelNotAvailableError(
            f"{repo_id}: {filename} is not in the local Hugging Face cache and {why}. "
            f"On a machine with network, run `hf download {repo_id} {filename} --local-dir DIR` "
            f"(or download the whole repo), copy DIR here and pass it as the model folder."
        ) from None
    except RepositoryNotFoundError:
        raise ModelNotAvailableError(f"hub repo {repo_id} does not exist (or is private)") from None
    except EntryNotFoundError:
        raise ModelNotAvailableError(f"hub repo {repo_id} has no file {filename}") from None
    except (HfHubHTTPError, OSError) as err:
        raise ModelNotAvailableError(f"{repo_id}: could not fetch {filename}: {err}") from None


# ---------------------------------------------------------------------------------------
# Whole model folders in the official layout.


def load_model_config(location: str | Path):
    """The sizes of the models at `location`: its config.json, else the official sizes.

    The official hub repo has no config file (the sizes are those of the released
    `maskgct.json`); folders and repos written by maskvox carry one.
    """
    location = str(location)
    folder = Path(location).expanduser()
    if folder.is_dir():
        path = folder / CONFIG_FILE
        return _checked(load_config(path, ModelConfig)) if path.is_file() else ModelConfig()
    if location == OFFICIAL_REPO:
        return ModelConfig()
    try:
        path = resolve_files(location, [CONFIG_FILE])[CONFIG_FILE]
    except ModelNotAvailableError as err:
        if "has no file" in str(err):
            return ModelConfig()
        raise
    return _checked(load_config(path, ModelConfig))


def _checked(cfg: ModelConfig) -> ModelConfig:
    """Every size positive and bounded (maskvox.limits) before any model is built from it; a
    message names the key as config.json spells it."""
    for name, where in OFFICIAL_SECTIONS.items():
        if getattr(cfg, name) is not None:
            check_model_sizes(getattr(cfg, name), where)
    return cfg


def has_module(location: str | Path, name: str) -> bool:
    """Whether a local folder holds the weights of module `name` (hub repos: assumed)."""
    folder = Path(str(location)).expanduser()
    if folder.is_dir():
        return (folder / OFFICIAL_FILES[name]).is_file()
    return looks_like_repo_id(str(location))


def write_model_folder(folder: str | Path, modules: dict[str, nn.Module], update_config) -> None:
    """Save modules under their official file names and merge their sizes into config.json.

    `update_config(cfg)` edits the folder's ModelConfig in place (only the sections of the
    modules being written), so recipes that export different models into one folder do
    not overwrite each other's sizes.
    """
    folder = Path(folder)
    cfg = load_model_config(folder) if folder.is_dir() else ModelConfig()
    update_config(cfg)
    for name, module in modules.items():
        save_module(module, folder / OFFICIAL_FILES[name])
    save_config(cfg, folder / CONFIG_FILE)


def default_model_location() -> str:
    """The demo checkpoint shipped inside the package (official layout, small sizes)."""
    from importlib import resources

    folder = Path(str(resources.files("maskvox") / "assets" / "demo"))
    if not (folder / CONFIG_FILE).is_file():
        raise ModelNotAvailableError(
            f"no --model given and the demo checkpoint is not installed ({folder}): "
            f"pass --model DIR (a folder in the official layout) or a hub repo id such as {OFFICIAL_REPO}"
        )
    return str(folder)
