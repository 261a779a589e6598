"""The CPU's instruction sets: they decide which ONNX Runtime kernels run, and so how fast a
model is and (for int8 models made with full-range weights) what it computes.

:func:`cpu_info` reads them once: ``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS, the
``platform`` module elsewhere. It never fails: what cannot be read is reported as unknown.
``facemotion models``, ``facemotion --version`` and every benchmark print :func:`cpu_summary`.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field

# the instruction sets reported, in this order
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "neon", "dotprod", "i8mm")
# /proc/cpuinfo names: x86 "flags", ARM "Features"
_LINUX = {"avx2": "avx2", "avx512f": "avx512f", "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni",
          "asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm"}
# macOS sysctl names (value 1 = present)
_MACOS = {"hw.optional.avx2_0": "avx2", "hw.optional.avx512f": "avx512f", "hw.optional.avx512vnni": "avx512_vnni",
          "hw.optional.neon": "neon", "hw.optional.arm.FEAT_DotProd": "dotprod", "hw.optional.arm.FEAT_I8MM": "i8mm"}
_X86 = ("x86_64", "amd64", "i386", "i686", "x86")
_ARM = ("aarch64", "arm64", "armv8l", "armv8b")


@dataclass(frozen=True)
class CpuInfo:
    name: str                     # the model name where known, else the architecture
    machine: str                  # platform.machine(): x86_64, aarch64, arm64, AMD64, ...
    cores: int
    flags: dict = field(default_factory=dict)  # FLAGS -> True / False / None (unknown)

    def has(self, flag: str) -> bool | None:
        return self.flags.get(flag)

    @property
    def vnni(self) -> bool | None:
        """An x86 int8 dot product without int16 saturation (AVX-512 VNNI or AVX-VNNI)."""
        a, b = self.flags.get("avx512_vnni"), self.flags.get("avx_vnni")
        return True if (a or b) else (None if a is None or b is None else False)

    def summary(self) -> str:
        """One line: ``AMD EPYC 7B13 (x86_64, 2 cores): avx2 yes, avx512f no, ...``."""
        arch = self.machine.lower()
        shown = [f for f in FLAGS if not ((arch in _X86 and f in ("neon", "dotprod", "i8mm"))
                                          or (arch in _ARM and f.startswith("avx")))]
        word = {True: "yes", False: "no", None: "?"}
        return f"{self.name} ({self.machine}, {self.cores} cores): " + ", ".join(
            f"{f} {word[self.flags.get(f)]}" for f in shown)


def _from_linux(text: str) -> tuple[str, dict | None]:
    """(model name, flags) from /proc/cpuinfo; flags None where it lists none."""
    name, present, listed = "", set(), False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not name:
            name = value.strip()
        elif key in ("flags", "features"):
            listed = True
            present |= set(value.split())
    if not listed:
        return name, None
    flags = {f: False for f in FLAGS}
    for word, flag in _LINUX.items():
        if word in present:
            flags[flag] = True
    return name, flags


def _from_auxv(data: bytes) -> dict | None:
    """ARM64 Linux: the kernel's (or an emulator's) hardware capability bits, AT_HWCAP/AT_HWCAP2
    in /proc/self/auxv: what ONNX Runtime itself falls back to."""
    import struct

    words = struct.unpack(f"<{len(data) // 8}Q", data[:len(data) // 8 * 8])
    aux = dict(zip(words[0::2], words[1::2]))
    if 16 not in aux:
        return None
    hwcap, hwcap2 = aux[16], aux.get(26, 0)  # AT_HWCAP, AT_HWCAP2
    return {**{f: False for f in FLAGS}, "neon": bool(hwcap & 1 << 1), "dotprod": bool(hwcap & 1 << 20),
            "i8mm": bool(hwcap2 & 1 << 13)}


def _from_macos() -> tuple[str, dict]:
    out = subprocess.run(["sysctl", "machdep.cpu.brand_string", *_MACOS], capture_output=True, text=True,
                         timeout=5).stdout
    name, flags = "", {f: False for f in FLAGS}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "machdep.cpu.brand_string":
            name = value
        elif key in _MACOS:
            flags[_MACOS[key]] = value == "1"
    return name, flags


def _fallback(machine: str) -> dict:
    """Only what the architecture implies: every ARMv8-A (AArch64) CPU has NEON (ASIMD)."""
    flags = dict.fromkeys(FLAGS)
    m = machine.lower()
    if m in _ARM:
        flags.update(neon=True, avx2=False, avx512f=False, avx512_vnni=False, avx_vnni=False)
    elif m in _X86:
        flags.update(neon=False, dotprod=False, i8mm=False)
    return flags


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU (read once; never raises)."""
    try:
        machine = platform.machine() or "unknown"
    except Exception:  # pragma: no cover - platform itself failing
        machine = "unknown"
    cores = os.cpu_count() or 1
    name, flags = "", None
    try:
        if sys.platform.startswith("linux"):
            try:
                with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                    name, flags = _from_linux(f.read())
            except OSError:
                pass
            if machine.lower() in _ARM and (flags is None or not flags["neon"]):
                # no /proc (a chroot), or an x86 host's under qemu-user emulation: the auxiliary
                # vector holds the capabilities of the CPU this process runs on
                with open("/proc/self/auxv", "rb") as f:
                    auxv = _from_auxv(f.read())
                if auxv is not None:
                    name, flags = "", auxv  # a model name read beside x86 flags is the host's
        elif sys.platform == "darwin":
            name, flags = _from_macos()
    except Exception:
        name, flags = "", None
    if flags is None:
        flags = _fallback(machine)
    if not name and not sys.platform.startswith("linux"):  # on Linux it would run `uname -p`
        try:
            name = platform.processor()
        except Exception:  # pragma: no cover
            name = ""
    name = name or machine
    return CpuInfo(name=name, machine=machine, cores=cores, flags=flags)


def cpu_summary() -> str:
    """One line naming the CPU and its instruction sets (never raises)."""
    try:
        return cpu_info().summary()
    except Exception as e:  # pragma: no cover - a last resort: never fail a command over this
        return f"unknown CPU ({type(e).__name__})"
