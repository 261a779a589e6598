"""facemotion.cpu: the instruction sets that decide ONNX Runtime's kernels, read without ever
failing, and shown by `facemotion --version`, `facemotion models` and every benchmark."""

import struct

import pytest

from facemotion import cpu

X86 = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 ssse3 fma avx avx2 bmi2
"""
XEON = X86.replace("AMD EPYC 7B13", "Intel Xeon Platinum 8480+").replace("bmi2", "bmi2 avx512f avx512_vnni avx_vnni")
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU part\t: 0xd0c
"""


def test_linux_cpuinfo_parsed():
    name, f = cpu._from_linux(X86)
    assert name == "AMD EPYC 7B13" and f["avx2"] and not f["avx512f"] and not f["avx512_vnni"] and not f["neon"]
    name, f = cpu._from_linux(XEON)
    assert f["avx512f"] and f["avx512_vnni"] and f["avx_vnni"]
    name, f = cpu._from_linux(ARM)
    assert f["neon"] and f["dotprod"] and not f["i8mm"] and not f["avx2"]
    assert cpu._from_linux("processor : 0\n") == ("", None)  # nothing listed: unknown, not "no"


def test_auxv_gives_arm64_capabilities():
    # AT_HWCAP = 16 (ASIMD bit 1, ASIMDDP bit 20), AT_HWCAP2 = 26 (I8MM bit 13), AT_NULL = 0
    data = struct.pack("<6Q", 16, (1 << 1) | (1 << 20), 26, 1 << 13, 0, 0)
    assert cpu._from_auxv(data) == {**{k: False for k in cpu.FLAGS}, "neon": True, "dotprod": True, "i8mm": True}
    assert cpu._from_auxv(struct.pack("<2Q", 0, 0)) is None


def test_summary_names_the_cpu_and_its_flags():
    x86 = cpu.CpuInfo("AMD EPYC 7B13", "x86_64", 2, cpu._from_linux(X86)[1])
    assert x86.summary() == "AMD EPYC 7B13 (x86_64, 2 cores): avx2 yes, avx512f no, avx512_vnni no, avx_vnni no"
    assert x86.vnni is False
    arm = cpu.CpuInfo("aarch64", "aarch64", 4, cpu._from_linux(ARM)[1])
    assert arm.summary() == "aarch64 (aarch64, 4 cores): neon yes, dotprod yes, i8mm no"
    unknown = cpu.CpuInfo("x", "riscv64", 1, cpu._fallback("riscv64"))
    assert "avx2 ?" in unknown.summary() and "neon ?" in unknown.summary() and unknown.vnni is None
    assert cpu._fallback("arm64")["neon"] is True and cpu._fallback("AMD64")["neon"] is False


def test_never_fails(monkeypatch):
    def broken(*a, **k):
        raise PermissionError("no /proc here")

    cpu.cpu_info.cache_clear()
    monkeypatch.setattr(cpu, "open", broken, raising=False)  # the module's open: /proc unreadable
    monkeypatch.setattr(cpu.subprocess, "run", broken)       # and no sysctl
    try:
        info = cpu.cpu_info()
        assert info.cores >= 1 and set(info.flags) == set(cpu.FLAGS)
        assert cpu.cpu_summary().startswith(info.name)
    finally:
        cpu.cpu_info.cache_clear()


def test_this_machine():
    info = cpu.cpu_info()
    assert set(info.flags) == set(cpu.FLAGS) and info.cores >= 1
    line = cpu.cpu_summary()
    assert info.machine in line and ("avx2" in line or "neon" in line or info.machine not in cpu._X86 + cpu._ARM)


@pytest.mark.parametrize("argv", [["--version"], ["models"]])
def test_cli_prints_the_cpu(argv, capsys):
    from facemotion.cli import main

    try:
        code = main(argv)
    except SystemExit as e:  # --version exits like argparse's own action
        code = e.code
    out = capsys.readouterr().out
    assert code in (0, None) and f"cpu: {cpu.cpu_summary()}" in out.splitlines()
