"""The browser's runtime files, fetched from the npm registry at export time, pinned and checked.

The page runs the models in the visitor's browser with two npm packages:

- ``onnxruntime-web`` (MIT): ONNX Runtime compiled to WebAssembly (SIMD, threads), the same
  runtime as the Python side's; its JSPI build adds WebGPU;
- ``@techstark/opencv-js`` (Apache-2.0): OpenCV compiled to WebAssembly, for the Haar cascade
  (the file ``opencv-python`` ships, so the browser finds the faces the Python default
  detector finds) and for the colour conversion and resizes of :mod:`facemotion.preprocess`.

They are not in the Python package (25 MB for the WASM path alone, 40 MB with WebGPU): each
file is taken from its package's tarball the first time it is needed (``facemotion
web-export``, ``facemotion serve``'s page, ``python -m facemotion.web.assets``), checked
against the tarball's registry integrity and the file's own SHA-256 below, and kept in
:func:`cache_dir`. Nothing is fetched when the page runs: the page loads these files from
wherever it is served.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FacemotionError
from ..fileio import write_bytes

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    integrity: str                 # the registry's dist.integrity of the tarball (sha512, base64)
    license: str
    files: dict[str, str] = field(default_factory=dict)  # path inside the tarball -> SHA-256

    @property
    def tarball(self) -> str:
        return f"{self.name.rpartition('/')[2]}-{self.version}.tgz"

    @property
    def packed(self) -> str:
        """The name ``npm pack`` gives its tarball (a scope's ``@`` dropped, its ``/`` a dash)."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    def url(self, registry: str) -> str:
        return f"{registry.rstrip('/')}/{self.name}/-/{self.tarball}"


ORT = NpmPackage(
    "onnxruntime-web", "1.30.0",
    "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==", "MIT",
    {
        # WebAssembly with SIMD and threads (every browser)
        "package/dist/ort.wasm.min.mjs": "219e6a1fc8a9938268d18efca3c91d310bd2f4a59bbd13744df5b2b7fc6cee3b",
        "package/dist/ort-wasm-simd-threaded.mjs": "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
        "package/dist/ort-wasm-simd-threaded.wasm": "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
        # the same with the WebGPU execution provider (browsers with WebGPU and JSPI)
        "package/dist/ort.jspi.min.mjs": "bc57179d923fda2d88d4a395359c8df44399dde087bf9ff44fc0e40ab398e4d9",
        "package/dist/ort-wasm-simd-threaded.jspi.mjs": "270e2c6da9f297239d301d329782b6446641cb1e16a77967690adcfca35f3268",
        "package/dist/ort-wasm-simd-threaded.jspi.wasm": "a54c76f86b0f0d9572380cf1c6292a7b3903716ffcbcd6b0e5c7050bf430eb93",
    })
OPENCV = NpmPackage(
    "@techstark/opencv-js", "4.12.0-release.1",
    "sha512-LtTaph9v/HqLPXEg3m1xs2h7QJh10pUpuDT0nj8g77lelWnTwwQrehtd+fXElLOdrkqc4Fea6Z/sJBvEJLYPfw==", "Apache-2.0",
    {
        "package/dist/opencv.js": "bd0c3e6448043de04f6a64a12cb7b759f78c3ab8f7c35c9f2e0f71c88bb17103",
        "package/LICENSE": "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
    })
PACKAGES = (ORT, OPENCV)
# what the page needs without WebGPU; the JSPI files are loaded only where WebGPU is used
WEBGPU_FILES = {"ort.jspi.min.mjs", "ort-wasm-simd-threaded.jspi.mjs", "ort-wasm-simd-threaded.jspi.wasm"}


class AssetError(FacemotionError):
    """The browser's runtime files could not be fetched or failed their check."""


def cache_dir() -> Path:
    """Where fetched files are kept: ``$FACEMOTION_WEB_CACHE``, else the user's cache folder."""
    if os.environ.get("FACEMOTION_WEB_CACHE"):
        return Path(os.environ["FACEMOTION_WEB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facemotion" / "web"


def registry() -> str:
    """The npm registry to fetch from: ``$FACEMOTION_NPM_REGISTRY`` (a mirror, or a folder of
    the tarballs for a machine without the network), else npm's."""
    return os.environ.get("FACEMOTION_NPM_REGISTRY") or REGISTRY


def pack_command(packages=PACKAGES) -> str:
    """The command that writes the tarballs on a machine with the network, for a folder source."""
    return "npm pack " + " ".join(f"{p.name}@{p.version}" for p in packages)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def path_of(pkg: NpmPackage, member: str) -> Path:
    """Where ``member`` of ``pkg`` is kept once fetched."""
    return cache_dir() / f"{pkg.name.replace('/', '+')}@{pkg.version}" / member.removeprefix("package/")


def missing(packages=PACKAGES) -> list[tuple[NpmPackage, str]]:
    """The pinned files not yet in the cache (or changed since they were fetched)."""
    out = []
    for pkg in packages:
        for member, digest in pkg.files.items():
            path = path_of(pkg, member)
            if not path.is_file() or _sha256(path) != digest:
                out.append((pkg, member))
    return out


def _download(url: str, quiet: bool) -> bytes:
    if not quiet:
        print(f"fetching {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.read()
    except OSError as e:  # URLError, timeouts, resets
        raise AssetError(f"{url}: cannot fetch ({getattr(e, 'reason', None) or e}); the page's browser files "
                         "come from the npm registry (FACEMOTION_NPM_REGISTRY names a mirror, or a folder holding "
                         f"what `{pack_command()}` writes on a machine with the network)") from None


def _integrity(data: bytes, algo: str) -> str:
    return base64.b64encode(hashlib.new(algo, data).digest()).decode()


def _from_folder(folder: Path, pkg: NpmPackage, quiet: bool) -> tuple[bytes, str]:
    """``pkg``'s tarball among the ``.tgz`` files of ``folder`` (``npm pack``'s, under any name):
    the one whose content has the pinned integrity. -> its bytes and path."""
    if not folder.is_dir():
        raise AssetError(f"FACEMOTION_NPM_REGISTRY={folder}: neither a registry's address (https://...) nor a folder")
    algo = pkg.integrity.partition("-")[0]
    named = folder / pkg.packed
    for path in sorted(folder.glob("*.tgz"), key=lambda p: p != named):  # npm pack's name first, then any
        try:
            data = path.read_bytes()
        except OSError as e:
            raise AssetError(f"{path}: cannot read ({e.strerror or e})") from None
        if f"{algo}-{_integrity(data, algo)}" == pkg.integrity:
            if not quiet:
                print(f"reading {path}", file=sys.stderr)
            return data, str(path)
    raise AssetError(f"{folder}: holds no tarball of {pkg.name} {pkg.version} with its pinned integrity"
                     f"{f' ({named.name} differs)' if named.is_file() else ''}; `{pack_command([pkg])}` writes it")


def fetch(quiet: bool = False, packages=PACKAGES) -> Path:
    """Make sure every pinned file is in :func:`cache_dir`, fetching the tarballs that are
    needed; -> the cache folder. A tarball or file that does not match its pin is refused."""
    todo = {p.name for p, _ in missing(packages)}
    source = registry()
    for pkg in (p for p in packages if p.name in todo):
        if "://" in source:
            url = pkg.url(source)
            data = _download(url, quiet)
        else:  # a folder: the tarballs carried to a machine without the network
            data, url = _from_folder(Path(source).expanduser(), pkg, quiet)
        algo, _, want = pkg.integrity.partition("-")
        got = _integrity(data, algo)
        if got != want:
            raise AssetError(f"{url}: integrity {algo}-{got} is not the pinned {pkg.integrity}")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member, digest in pkg.files.items():
                try:
                    blob = tar.extractfile(member)
                except KeyError:
                    blob = None
                if blob is None:
                    raise AssetError(f"{url}: has no file {member}")
                content = blob.read()
                if hashlib.sha256(content).hexdigest() != digest:
                    raise AssetError(f"{url}: {member} does not match its pinned SHA-256")
                try:
                    write_bytes(path_of(pkg, member), content)
                except OSError as e:  # a read-only or missing home folder, a file on the way
                    raise AssetError(f"{cache_dir()}: cannot keep the page's browser files there "
                                     f"({e.strerror or e}); FACEMOTION_WEB_CACHE names another folder") from None
    return cache_dir()


def files(webgpu: bool = True) -> dict[str, Path]:
    """Name in the page's ``vendor/`` folder -> the cached file (call :func:`fetch` first)."""
    out = {}
    for pkg in PACKAGES:
        for member in pkg.files:
            name = Path(member).name
            if name == "LICENSE" or (not webgpu and name in WEBGPU_FILES):
                continue
            out[name] = path_of(pkg, member)
    return out


def available() -> bool:
    """Whether the cache holds every pinned file (cheap: sizes only, no hashing)."""
    return all(path_of(pkg, m).is_file() for pkg in PACKAGES for m in pkg.files)


def notices() -> str:
    """The licences of what the page ships, for the exported site's THIRD_PARTY.md."""
    import cv2

    lines = ["# Third-party files in this folder", ""]
    for pkg in PACKAGES:
        names = ", ".join(Path(m).name for m in pkg.files if not m.endswith("LICENSE"))
        lines.append(f"- `{pkg.name}` {pkg.version} from the npm registry ({pkg.license}): {names}")
    lines.append(f"- `haarcascade_frontalface_default.xml` from opencv-python {cv2.__version__} (Intel License "
                 "Agreement For Open Source Computer Vision Library, BSD-style; its terms are in the file's header)")
    lines += ["", "## @techstark/opencv-js LICENSE", "", path_of(OPENCV, "package/LICENSE").read_text()]
    return "\n".join(lines) + "\n"


def main() -> int:  # python -m facemotion.web.assets
    try:
        path = fetch()
    except AssetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"facemotion's browser files are in {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
