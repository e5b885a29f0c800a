"""`snakemake --report`: one self-contained page with every figure and table of a run, the config and the
runtime per rule, rendered by a real browser (headless Chromium) with the figures visible.

The run is a trimmed config/test.yaml (its two experiments that need no training: gaussian_variance and a
one-seed reflow), in a scratch copy of the workflow. Without Chromium the browser tests skip, unless
RFPIPE_REQUIRE_SLURM=1 (CI), where they fail.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_copy import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
CONFIG = "config/report_test.yaml"
KINDS = ("gaussian_variance", "reflow")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000"]


def _snakemake(workdir: Path, *args: str) -> None:
    proc = subprocess.run([*SNAKEMAKE, *args, "--cores", "2", "--configfile", CONFIG], cwd=workdir,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A finished trimmed run and its report: the working directory, results dir and the report's data."""
    workdir = copy_workflow(tmp_path_factory.mktemp("report_wf"))
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["results_dir"] = "results/report_test"
    config["experiments"] = {k: v for k, v in config["experiments"].items() if v["kind"] in KINDS}
    for exp in config["experiments"].values():
        if exp["kind"] == "reflow":
            exp["grid"].update(coupling=["ot"], seed=[0])
    (workdir / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    _snakemake(workdir)
    report = workdir / config["results_dir"] / "report.html"
    _snakemake(workdir, "--report", str(report.relative_to(workdir)))
    html = report.read_text()
    return {"workdir": workdir, "results": workdir / config["results_dir"], "config": config, "report": report,
            "html": html, "data": {name: _js_value(html, name) for name in ("results", "categories")},
            "runtimes": _js_value(html, "runtimes_spec")}


def _js_value(html: str, name: str):
    """The JSON literal assigned to ``var name`` in the report's script."""
    match = re.search(rf"var {name} = (?=[{{\[\"])", html)
    assert match, name
    return json.JSONDecoder().raw_decode(html, match.end())[0]


def test_every_figure_and_table_is_in_the_page(run) -> None:
    """Each experiment is a category holding all its figures (PNG, inline) and an HTML view of each table; the
    paper results table and the configuration page are there too; nothing links outside the file."""
    results, items, categories = run["results"], run["data"]["results"], run["data"]["categories"]
    for name in run["config"]["experiments"]:
        figures = sorted((results / name / "figures").glob("*.png"))
        tables = sorted((results / name / "tables").glob("*.csv"))
        assert figures and tables
        assert set(categories[name]) == {"figures", "tables"}
        for fig in figures:
            entry = items[str(fig.relative_to(run["workdir"]))]
            assert entry["mime_type"] == "image/png" and entry["data_uri"].startswith("data:image/png")
            assert entry["caption"].strip(), fig  # every figure has a caption
        for table in tables:
            page = results / "report" / name / f"{table.stem}.html"
            entry = items[str(page.relative_to(run["workdir"]))]
            assert entry["mime_type"] == "text/html" and entry["caption"].strip()
            body = base64.b64decode(entry["data_uri"].split(",", 1)[1]).decode()
            assert body.count("<tr>") == len(table.read_text().strip().splitlines())  # header + every row
    paper = items[str((results / "report" / "paper_results.html").relative_to(run["workdir"]))]
    body = base64.b64decode(paper["data_uri"].split(",", 1)[1]).decode()
    assert "<b>C1</b>" in body and "<b>C8</b>" in body and "reported" in body
    config = items[str((results / "report" / "config.html").relative_to(run["workdir"]))]
    body = base64.b64decode(config["data_uri"].split(",", 1)[1]).decode()
    assert "report_test.yaml" in body and "stall_tol" in body  # the file and the validated config
    assert {"paper results", "configuration"} <= set(categories)
    assert not re.search(r"""(?:src|href)=["']https?://""", run["html"])  # self-contained


def test_runtime_per_rule_and_description(run) -> None:
    """The statistics view has each rule's runtime; the description names the experiments, without docutils
    warnings."""
    rules = {v["rule"] for v in run["runtimes"]["data"]["values"]}
    assert {"compute_gaussian_variance", "train_reflow", "report_gaussian_variance", "report_reflow", "report_tables",
            "paper_results"} <= rules
    desc = _js_value(run["html"], "workflow_desc")
    assert "System Message" not in desc and "WARNING" not in desc
    for name in run["config"]["experiments"]:
        assert name in desc


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("RFPIPE_REQUIRE_SLURM") == "1":
        pytest.fail("chromium is not installed (CI requires it: .ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _browser(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000",
                           *args, page.as_uri()], capture_output=True, text=True, timeout=180)


# Opens every figure the way its eye button does (app.setView with the figure's data URI), one after the
# other, and writes for each whether the <img> loaded and its size on screen into the page title.
DRIVER = """<script>
window.addEventListener("load", function () {
  var paths = Object.keys(results).filter(function (p) { return results[p].mime_type === "image/png"; });
  var seen = [];
  function step(i) {
    if (i > 0) {
      var img = document.querySelector("#app img[src^='data:image/png']");
      seen.push([paths[i - 1], img ? img.complete : false, img ? img.naturalWidth : 0,
                 img ? Math.round(img.getBoundingClientRect().width) : 0]);
    }
    if (i === paths.length) { document.title = "RFPIPE" + JSON.stringify(seen); return; }
    app.setView({content: "img", contentPath: results[paths[i]].data_uri, resultPath: paths[i],
                 navbarMode: "resultinfo"});
    setTimeout(function () { step(i + 1); }, 300);
  }
  setTimeout(function () { step(0); }, 500);
});
</script>"""


def test_renders_in_chromium_with_figures_visible(run, tmp_path: Path) -> None:
    """Headless Chromium runs the page's scripts offline: the menu lists every category, and every figure,
    opened, is a loaded image drawn at a visible size. A screenshot of the last figure is kept."""
    _chromium()
    dom = _browser(run["report"], tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for category in ("paper results", "configuration", *run["config"]["experiments"]):
        assert f">{category}<" in dom.stdout, category  # rendered by the page's JavaScript

    html = run["html"]
    at = html.rindex("</body>")
    driven = tmp_path / "driven.html"
    driven.write_text(html[:at] + DRIVER + html[at:])
    dom = _browser(driven, tmp_path, "--dump-dom")
    title = re.search(r"<title>RFPIPE(.*?)</title>", dom.stdout, re.S)
    assert title, dom.stdout[-2000:]
    seen = json.loads(title.group(1).replace("&quot;", '"'))
    figures = [p for p, e in run["data"]["results"].items() if e["mime_type"] == "image/png"]
    assert sorted(p for p, *_ in seen) == sorted(figures) and len(figures) >= 4
    for path, complete, natural_width, shown_width in seen:
        assert complete and natural_width > 100 and shown_width > 100, (path, natural_width, shown_width)

    shot = Path(os.environ.get("RFPIPE_REPORT_SCREENSHOT", tmp_path / "report.png"))
    proc = _browser(driven, tmp_path, f"--screenshot={shot}")
    assert proc.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
