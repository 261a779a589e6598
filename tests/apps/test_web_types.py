"""facemotion.d.ts, facemotion.js's TypeScript declarations: they name what the script gives and
what a face record holds, a page written in TypeScript type-checks against them, and misuse
does not. The compiler is npm's typescript (``bash scripts/install_typescript.sh``); without
it the compiling test skips and says so."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import facemotion
from facemotion import EmotionRecognizer

from conftest import ROOT

STATIC = Path(facemotion.__file__).parent / "service" / "static"
TYPES = (STATIC / "facemotion.d.ts").read_text()


def _members(body: str) -> set[str]:
    """The names an interface body (or an object literal of facemotion.js) declares at its top level."""
    depth, names = 0, set()
    for line in re.sub(r"/\*.*?\*/", "", body, flags=re.S).splitlines():
        code = line.split("//")[0]
        if depth == 0:
            m = re.match(r"\s*(?:readonly\s+|get\s+|async\s+)?([A-Za-z_]\w*)\??\s*[:(,]", code)
            if m:
                names.add(m.group(1))
        depth += sum(code.count(c) for c in "{([") - sum(code.count(c) for c in "})]")
    return names


def _interface(name: str) -> set[str]:
    start = TYPES.index(f"interface {name} ")
    body = TYPES[TYPES.index("{", start) + 1:]
    depth = 1
    for i, ch in enumerate(body):
        depth += (ch == "{") - (ch == "}")
        if depth == 0:
            return _members(body[:i])
    raise AssertionError(f"interface {name} never closes")


def test_the_declarations_name_what_facemotion_js_gives():
    script = (STATIC / "facemotion.js").read_text()
    exported = re.search(r"return \{ ([^}]*) \};\s*\}\)\(\);\s*$", script).group(1)
    declared = set(re.findall(r"^  (?:function|const) (\w+)", TYPES, re.M))
    assert declared == {n.strip() for n in exported.split(",")}
    api = script[script.index("const api = {") + len("const api = {"):script.index("return api;")]
    assert _interface("Facemotion") == _members(api.rsplit("};", 1)[0])
    # the engine's info fields: every `info = { ..., key: ... }` and `info.key =` in engine.js
    engine = (STATIC / "engine.js").read_text()
    info = set(re.findall(r"info\.(\w+) =", engine))
    for literal in re.findall(r"info = \{([^}]*)\}", engine):
        info |= {k.split(":")[0].strip() for k in literal.split(",") if k.strip() and "..." not in k}
    assert _interface("Info") == info


def test_a_face_is_typed_as_pythons_record():
    """The fields of Face, its pose and measures are those of detect_emotions' records with the
    mesh (and face_id, which tracking adds); the emotions those of both label sets."""
    face = EmotionRecognizer(mesh=True).detect_emotions(facemotion.SAMPLE_IMAGE)[0]
    assert _interface("Face") == set(face) | {"face_id"}
    assert re.findall(r"pose\?: \{ (\w+): number \| null; (\w+): number \| null; (\w+): number \| null \}", TYPES) == \
        [tuple(face["pose"])]
    measures = re.search(r"type MeasureName = ([^;]*);", TYPES).group(1)
    assert re.findall(r'"(\w+)"', measures) == list(face["measures"])
    emotions = re.search(r"type Emotion = ([^;]*);", TYPES).group(1)
    assert re.findall(r'"(\w+)"', emotions) == list(facemotion.labels.FERPLUS_EMOTIONS)


def _tsc() -> str:
    local = ROOT / ".cache" / "typescript" / "node_modules" / ".bin" / "tsc"
    found = str(local) if local.is_file() else shutil.which("tsc")
    if not found or not shutil.which("node"):
        pytest.skip("TypeScript's compiler not installed (bash scripts/install_typescript.sh)")
    return found


PAGE = """\
/// <reference path="facemotion.d.ts" />
window.addEventListener("load", async () => {
  const fm: facemotion.Facemotion = await facemotion.load({ detector: "haar", mesh: true });
  const photo = document.getElementById("photo") as HTMLImageElement;
  const faces = await fm.detectEmotions(photo);
  for (const f of faces) {
    const [x, y, w, h] = f.box;
    const happy: number = f.emotions.happy, contempt: number | undefined = f.emotions.contempt;
    const yaw = f.pose ? f.pose.yaw : null, smile = f.measures ? f.measures.smile : null;
    console.log(x + y + w + h, f.dominant_emotion, happy, contempt, yaw, smile, f.face_id);
  }
  const canvas = document.createElement("canvas");
  fm.draw(canvas, faces, { bars: true, tag: (f, i) => `${i}: ${f.dominant_emotion}` });
  const video = document.querySelector("video")!;
  const frame: facemotion.Analysis = await fm.analyze(video, { track: true });
  console.log(frame.width, frame.timing.detect, frame.ep, fm.info.model, fm.labels.includes("contempt"));
  await fm.setModel(fm.models[0]);
  await fm.reset();
  fm.close();
  window.facemotion.draw(canvas.getContext("2d")!, frame.faces, { blur: video });  // an overlay over the video
  fm.draw(canvas, faces, { blur: true });
});
"""

MISUSE = {  # a line each, and what TypeScript says of it
    'await fm.detectEmotions("photo.jpg");': "TS2345",                 # a path is no picture
    "console.log(faces[0].box.x);": "TS2339",                          # box is [x, y, w, h]
    'await facemotion.load({ detector: "mtcnn" });': "TS2322",        # no such detector
    'const e: facemotion.Emotion = faces[0].emotions.happy;': "TS2322",  # a probability, not a name
}


def test_a_page_in_typescript_type_checks_against_the_declarations(tmp_path):
    tsc = _tsc()
    shutil.copy(STATIC / "facemotion.d.ts", tmp_path)
    (tmp_path / "page.ts").write_text(PAGE)
    bad = "\n".join(MISUSE)
    (tmp_path / "bad.ts").write_text('/// <reference path="facemotion.d.ts" />\nasync function misuse() {\n'
                                     "  const fm = await facemotion.load();\n  const faces = await fm.detectEmotions("
                                     f"new Blob());\n{bad}\n}}\nmisuse();\n")
    args = [tsc, "--strict", "--noEmit", "--target", "es2020", "--lib", "es2020,dom"]
    env = {**os.environ, "NO_COLOR": "1"}
    ok = subprocess.run([*args, "page.ts"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = subprocess.run([*args, "bad.ts"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    said = re.findall(r"bad\.ts\((\d+),\d+\): error (TS\d+)", wrong.stdout)
    assert sorted(said) == sorted((str(i + 5), code) for i, code in enumerate(MISUSE.values())), wrong.stdout
