"""Downloads of the MT data, without the internet: a local HTTP server (127.0.0.1, an
ephemeral port) serves GENERATED miniatures of Multi30k's gzipped raw files and of the
IWSLT14 de-en.tgz, and MULTI30K_URL / IWSLT14_URL point the scripts at it.

Covered: ``mt_data.py fetch-multi30k`` (download, sha256 check, cache reuse, failures),
examples/iwslt14/prepare.sh downloading from IWSLT14_URL, and examples/demo.sh's choice
of data (download -> real data; failed download or incomplete folder -> the generated cascade task)."""
import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from conftest import ROOT
from test_recipes_mt import count_lines, run_recipe, sentence_pairs, write_iwslt_release

MT_DATA = os.path.join(ROOT, "scripts", "mt_data.py")
DEMO = os.path.join(ROOT, "examples", "demo.sh")
# local name of each split -> its name in the Multi30k repository; miniature sizes
REMOTE_SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
MINI_SIZES = {"train": 40, "val": 12, "test": 10}
NAMES = [f"{split}.{lang}" for split in REMOTE_SPLITS for lang in ("de", "en")]
# requests to 127.0.0.1 must not go to a proxy set in the environment
LOCAL_ONLY = {"http_proxy": "", "HTTP_PROXY": "", "https_proxy": "", "HTTPS_PROXY": "",
              "all_proxy": "", "ALL_PROXY": "", "no_proxy": "127.0.0.1,localhost",
              "NO_PROXY": "127.0.0.1,localhost"}


# -- a local server and a dead port -------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``folder``; ``requests`` lists the paths asked
    for (the handler runs in the server's thread, appends are atomic)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep pytest's output clean
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    # a short poll interval: shutdown() waits for it
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(folder=folder, url=f"http://127.0.0.1:{httpd.server_port}",
                              requests=requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def dead_url():
    """A URL on a port that is bound but not listening: connections are refused at once
    (and no other process can start listening there during the test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


def serve_multi30k(folder):
    """A miniature Multi30k: the six gzipped files under their repository names, made-up
    German/English captions. Writes checksums.json ({local name: sha256 of the text})
    next to them; returns {local name: text}."""
    texts = {}
    for i, (split, remote) in enumerate(REMOTE_SPLITS.items()):
        pairs = sentence_pairs(MINI_SIZES[split], seed=20 + i)
        for lang, k in (("de", 0), ("en", 1)):
            text = "".join(p[k] + "\n" for p in pairs)
            texts[f"{split}.{lang}"] = text
            with gzip.open(folder / f"{remote}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write(text)
    checksums = {name: sha256(text) for name, text in texts.items()}
    (folder / "checksums.json").write_text(json.dumps(checksums))
    return texts


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fetch_multi30k(dest, *args):
    """``mt_data.py fetch-multi30k DEST ARGS``; the CompletedProcess (not checked)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTI30K_")}
    env.update(LOCAL_ONLY)
    return subprocess.run([sys.executable, MT_DATA, "fetch-multi30k", str(dest), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=60)


def leftovers(folder):
    """Half-written downloads in FOLDER."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part")) \
        if folder.is_dir() else []


# -- mt_data.py fetch-multi30k ------------------------------------------------------------


def test_fetch_multi30k_downloads_verifies_then_reuses_the_cache(server, tmp_path):
    texts = serve_multi30k(server.folder)
    dest = tmp_path / "cache"
    args = ("--base-url", server.url, "--checksums", server.folder / "checksums.json")
    first = fetch_multi30k(dest, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    for name in NAMES:  # test_2016_flickr.* stored as test.*, decompressed, byte for byte
        assert (dest / name).read_text(encoding="utf-8") == texts[name]
    assert sorted(server.requests) == sorted(
        f"/{REMOTE_SPLITS[n.split('.')[0]]}.{n.split('.')[1]}.gz" for n in NAMES)
    assert first.stdout.count("downloading ") == 6 and "using the cached" not in first.stdout
    assert f"train.de {MINI_SIZES['train']} lines" in first.stdout
    assert leftovers(dest) == []

    second = fetch_multi30k(dest, *args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(server.requests) == 6  # nothing asked for again
    assert second.stdout.count("using the cached") == 6 and "downloading" not in second.stdout

    # a damaged cached file does not verify: that one file (only) is fetched again
    (dest / "val.en").write_text("A damaged line.\n", encoding="utf-8")
    third = fetch_multi30k(dest, *args)
    assert third.returncode == 0, third.stdout + third.stderr
    assert server.requests[6:] == ["/val.en.gz"]
    assert (dest / "val.en").read_text(encoding="utf-8") == texts["val.en"]
    assert f"the cached {dest / 'val.en'} has sha256 {sha256('A damaged line.' + chr(10))}" \
        in third.stdout


def test_fetch_multi30k_rejects_a_file_with_the_wrong_checksum(server, tmp_path):
    texts = serve_multi30k(server.folder)
    checksums = json.loads((server.folder / "checksums.json").read_text())
    checksums["train.en"] = "0" * 64
    (tmp_path / "wrong.json").write_text(json.dumps(checksums))
    dest = tmp_path / "cache"
    result = fetch_multi30k(dest, "--base-url", server.url, "--checksums", tmp_path / "wrong.json")
    assert result.returncode != 0
    assert "train.en: checksum mismatch" in result.stderr
    assert f"expected sha256 {'0' * 64}, got {sha256(texts['train.en'])}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (dest / "train.en").exists() and leftovers(dest) == []
    assert (dest / "train.de").is_file()  # verified before it: kept, a later run reuses it


def test_fetch_multi30k_checks_the_release_checksums_by_default(server, tmp_path):
    """Without --checksums the table of the real release applies: the miniature fails it."""
    serve_multi30k(server.folder)
    result = fetch_multi30k(tmp_path / "cache", "--base-url", server.url)
    assert result.returncode != 0
    assert "train.de: checksum mismatch" in result.stderr
    assert "expected sha256 2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72" \
        in result.stderr
    assert not (tmp_path / "cache" / "train.de").exists()


def test_fetch_multi30k_unreachable_server_says_so(dead_url, tmp_path):
    dest = tmp_path / "cache"
    result = fetch_multi30k(dest, "--base-url", dead_url)
    assert result.returncode != 0
    assert f"download of {dead_url}train.de.gz failed" in result.stderr
    assert "Connection refused" in result.stderr and "Traceback" not in result.stderr
    assert not (dest / "train.de").exists() and leftovers(dest) == []


# -- examples/iwslt14/prepare.sh with IWSLT14_URL -----------------------------------------


def test_iwslt14_prepare_downloads_from_iwslt14_url(server, tmp_path):
    expected = write_iwslt_release(tmp_path / "release" / "de-en")
    archive = shutil.make_archive(str(tmp_path / "de-en"), "gztar", tmp_path / "release", "de-en")
    shutil.move(archive, server.folder / "de-en.tgz")
    url = f"{server.url}/de-en.tgz"
    data = tmp_path / "data"
    out = run_recipe("iwslt14/prepare.sh", data,
                     env={"SPM_VOCAB": "150", "IWSLT14_URL": url, **LOCAL_ONLY})
    assert f"downloading {url} -> {data / 'orig' / 'de-en.tgz'}" in out
    assert server.requests == ["/de-en.tgz"]
    assert (data / "orig" / "de-en.tgz").read_bytes() == (server.folder / "de-en.tgz").read_bytes()
    assert leftovers(data / "orig") == []
    for lang in ("de", "en"):
        for split in ("train", "valid", "test"):
            assert count_lines(data / "text" / f"{split}.{lang}") == expected[split]
            assert (data / "bin" / f"{split}.de-en.{lang}.bin").is_file()


# -- examples/demo.sh: which data ---------------------------------------------------------

# lines of demo.sh: the choice of data made, and (real data) the recipe's data prepared
TOY, REAL = "== data: a GENERATED cascade task", "== data: REAL Multi30k"
REAL_TRAINING = "== train cross-entropy"


def run_demo_until(markers, *args, env, timeout=180):
    """Run examples/demo.sh ARGS until it prints a line containing one of MARKERS, then
    stop it (its whole process group: the training that would follow is not what is
    tested; a marker of the path NOT expected makes a wrong choice fail fast).
    Returns (all output so far, the marker seen or None)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MULTI30K_")}
    full_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full_env.get("PATH", "")
    full_env.update({"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
    full_env.update(LOCAL_ONLY)
    full_env.update(env)
    proc = subprocess.Popen(["bash", DEMO, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=full_env,
                            start_new_session=True)  # its own process group, to stop it whole

    def stop():
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:  # already finished
            pass

    watchdog = threading.Timer(timeout, stop)
    watchdog.start()
    lines, seen = [], None
    try:
        for line in proc.stdout:
            lines.append(line)
            seen = next((m for m in markers if m in line), None)
            if seen:
                break
    finally:
        watchdog.cancel()
        stop()
        rest, _ = proc.communicate(timeout=60)
    return "".join(lines) + (rest or ""), seen


def test_demo_downloads_multi30k_into_the_cache_and_uses_it(server, tmp_path):
    """No folder given: the demo fetches Multi30k into the default cache under
    XDG_CACHE_HOME and runs the real-data recipe on it (stopped once training starts)."""
    texts = serve_multi30k(server.folder)
    cache = tmp_path / "xdg" / "relaxss_fairseq" / "multi30k"
    work = tmp_path / "work"
    out, seen = run_demo_until(
        [REAL_TRAINING, TOY], "", work,
        env={"MULTI30K_URL": server.url, "XDG_CACHE_HOME": str(tmp_path / "xdg"),
             "MULTI30K_CHECKSUMS": str(server.folder / "checksums.json"),
             "TRAIN_PAIRS": "30", "SPM_VOCAB": "100"})
    assert seen == REAL_TRAINING, out
    assert f"fetching Multi30k into the cache {cache}" in out
    assert f"== data: REAL Multi30k de-en from {cache} (first 30 training pairs" in out
    assert "GENERATED cascade task" not in out
    assert len(server.requests) == 6
    for name in NAMES:
        assert (cache / name).read_text(encoding="utf-8") == texts[name]
    # the recipe ran on the downloaded files: 30 training pairs, the whole val and test
    assert count_lines(work / "data" / "text" / "train.en") == 30
    assert count_lines(work / "data" / "text" / "valid.de") == MINI_SIZES["val"]
    assert count_lines(work / "data" / "text" / "test.de") == MINI_SIZES["test"]


def test_demo_falls_back_to_the_cascade_task_when_the_download_fails(dead_url, tmp_path):
    cache = tmp_path / "cache"
    out, seen = run_demo_until([TOY, REAL], "", tmp_path / "work",
                               env={"MULTI30K_URL": dead_url, "MULTI30K_CACHE": str(cache)})
    assert seen == TOY, out
    assert f"fetching Multi30k into the cache {cache}" in out
    assert "== could not download Multi30k:" in out
    assert f"download of {dead_url}train.de.gz failed" in out and "Connection refused" in out
    assert "falling back to the GENERATED cascade task" in out
    assert "bash examples/demo.sh MULTI30K_DIR" in out  # how to give a folder instead
    assert "REAL Multi30k" not in out
    assert not (cache / "train.de").exists() and leftovers(cache) == []


def test_demo_with_an_incomplete_folder_says_what_is_missing(dead_url, tmp_path):
    folder = tmp_path / "m30k"
    folder.mkdir()
    for name in ("train.de", "train.en", "val.de", "val.en"):
        (folder / name).write_text("Ein Hund.\n", encoding="utf-8")
    # an unreachable URL: had the demo tried to download, it would say so
    out, seen = run_demo_until([TOY, REAL], folder, tmp_path / "work",
                               env={"MULTI30K_URL": dead_url})
    assert seen == TOY, out
    assert f"== {folder} is not a Multi30k folder: it has no test.de test.en\n" in out
    assert "fetching Multi30k" not in out and "REAL Multi30k" not in out
