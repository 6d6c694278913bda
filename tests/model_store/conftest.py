"""A real HTTP server on 127.0.0.1 that answers like the Hugging Face hub, for the model store.

It serves the tiny reference checkpoint in the hub's layout: ``facebook/sam-audio-small``
(config.json, checkpoint.pt, LICENSE, README.md and files the backend must not fetch) and
its T5 encoder as a repository of its own (``tiny_t5``, as the released configs name
``t5-base``), roberta-base's tokenizer and the span predictor ``facebook/pe-a-frame-large``. The real huggingface_hub client talks to it through its endpoint setting.
A repository may answer only to other branch names (the span predictor's
``perception_models``). It can answer as a gated repository (401 without a token, 403 while a request is pending
or after it was rejected), drop a connection partway through a file (once, or at the
same offset every time), and call a hook
before sending a file (the disk-full test fills the disk there).

Not covered: the hub's CDN redirects and Xet storage (the client falls back to plain
HTTP when the server sends no Xet headers, as this one does).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("huggingface_hub", reason="the model store tests need huggingface_hub")

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / ".." / "shared" / "sam_audio_reference"
MODEL_ID = "facebook/sam-audio-small"
LICENCE_TEXT = b"SAM License (test copy)\nThe terms the weights are distributed under.\n"
LFS_SUFFIXES = (".pt", ".safetensors", ".bin")
TOKENIZER_REPO = "FacebookAI/roberta-base"
SPAN_PREDICTOR_REPO = "facebook/pe-a-frame-large"
SPAN_BRANCH = "perception_models"


@dataclass
class HubRepo:
    files: dict[str, bytes]
    sha: str
    gated: bool = False
    branches: tuple[str, ...] = ("main",)
    """The revision names it answers to (besides its commit)."""


@dataclass
class LocalHub:
    """The server's state; tests change it between requests."""

    url: str = ""
    repos: dict[str, HubRepo] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    """token → "granted", "pending" or "rejected" (for gated repositories)."""
    drop_after: dict[str, int] = field(default_factory=dict)
    """file path → bytes sent before the connection is cut, once."""
    cut_at: dict[str, int] = field(default_factory=dict)
    """file path → offset in the file where every connection is cut (a network that keeps
    failing for the whole run)."""
    before_get: Callable[[str], None] | None = None
    log: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, path, Range header) of every request."""

    def gets(self, name: str) -> list[str]:
        """The Range headers of every GET of a file named ``name``."""
        return [r for m, p, r in self.log if m == "GET" and p.endswith(f"/{name}")]


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


def reference_repos() -> dict[str, HubRepo]:
    model_files = {
        "config.json": (REFERENCE / "config.json").read_bytes(),
        "checkpoint.pt": (REFERENCE / "checkpoint.pt").read_bytes(),
        "LICENSE": LICENCE_TEXT,
        "README.md": b"---\nlicense: other\nlicense_name: sam-license\n---\n# tiny\n",
        # In the official repositories, not needed by the audio-only backend:
        "vision_tower/model.safetensors": os.urandom(4096),
        "text_ranker/config.json": b"{}",
        "text_ranker/model.safetensors": os.urandom(2048),
        ".gitattributes": b"*.pt filter=lfs\n",
    }
    t5_files = {p.name: p.read_bytes() for p in sorted((REFERENCE / "tiny_t5").iterdir())}
    t5_files["tf_model.h5"] = os.urandom(1024)  # a TF copy of the weights: never fetched
    return {
        MODEL_ID: HubRepo(model_files, "a" * 40, gated=True),
        "tiny_t5": HubRepo(t5_files, "b" * 40),
        TOKENIZER_REPO: HubRepo(tiny_roberta_tokenizer(), "d" * 40),
        SPAN_PREDICTOR_REPO: HubRepo(span_predictor_files(), "e" * 40, branches=(SPAN_BRANCH,)),
    }


def span_predictor_files() -> dict[str, bytes]:
    """PE-A-Frame's repository in miniature, on the branch perception_models reads: its
    config, weights, ModernBERT tokenizer files, licence, and files a pull must not fetch.
    (The contents are not read here; tests/separation/test_sam_audio_spans.py loads one.)"""
    return {
        "config.json": b'{"output_dim": 12}',
        "model.safetensors": os.urandom(3072),
        "tokenizer.json": b'{"model": {}}',
        "tokenizer_config.json": b"{}",
        "special_tokens_map.json": b'{"pad_token": "[PAD]"}',
        "LICENSE": LICENCE_TEXT,
        "README.md": b"# pe-a-frame\n",
        "onnx/model.onnx": os.urandom(1024),
        ".gitattributes": b"*.safetensors filter=lfs\n",
    }


def tiny_roberta_tokenizer() -> dict[str, bytes]:
    """roberta-base's repository in miniature: a byte-level BPE in its file layout, its
    config, and weights that a ranker pull must never fetch."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(["a sine tone", "the bass"] * 5, vocab_size=280, special_tokens=special)
    with tempfile.TemporaryDirectory() as folder:
        files = {Path(p).name: Path(p).read_bytes() for p in bpe.save_model(folder)}
    files["config.json"] = b'{"model_type": "roberta", "hidden_size": 768}'
    files["model.safetensors"] = os.urandom(4096)
    files["dict.txt"] = b"1 2\n"
    return files


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: LocalHub

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _reply(self, status: int, headers: dict[str, str], data: bytes = b"") -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(
        self, status: int, code: str, message: str, extra: dict[str, str] | None = None
    ) -> None:
        body = json.dumps({"error": message}).encode()
        headers = {
            "X-Error-Code": code,
            "X-Error-Message": message,
            "Content-Type": "application/json",
        }
        self._reply(status, headers | (extra or {}), body)

    def _serve(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.log.append((self.command, path, self.headers.get("Range", "")))
        if path.startswith("/api/models/"):
            return self._api(path.removeprefix("/api/models/"))
        if "/resolve/" not in path:
            return self._error(404, "RepoNotFound", "Not found")
        repo_id, rest = path.strip("/").split("/resolve/", 1)
        revision, _, name = rest.partition("/")
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        if revision not in (*repo.branches, repo.sha):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if repo.gated and not self._allowed(repo_id):
            return None
        if name not in repo.files:
            return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.sha})
        self._file(repo, name, body)
        return None

    def _allowed(self, repo_id: str) -> bool:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not token:
            self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to access it. Please log in.")  # fmt: skip
            return False
        state = self.hub.tokens.get(token)
        if state is None:
            self._error(401, "", "Invalid credentials in Authorization header")
            return False
        if state == "pending":
            self._error(403, "GatedRepo", f"Your request to access model {repo_id} is awaiting a review from the repo authors.")  # fmt: skip
            return False
        if state == "rejected":
            self._error(403, "GatedRepo", f"Your request to access model {repo_id} has been rejected by the repo's authors.")  # fmt: skip
            return False
        return True

    def _file(self, repo: HubRepo, name: str, body: bool) -> None:
        data = repo.files[name]
        headers = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if name.endswith(LFS_SUFFIXES):
            digest = hashlib.sha256(data).hexdigest()
            headers |= {
                "X-Linked-Etag": f'"{digest}"',
                "X-Linked-Size": str(len(data)),
                "ETag": f'"{digest}"',
            }
        else:
            headers["ETag"] = f'"{git_blob_sha1(data)}"'
        if not body:
            return self._reply(200, headers, data)
        if self.hub.before_get is not None:
            self.hub.before_get(name)
        start = 0
        status = 200
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes="):
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        part = data[start:]
        cut = self.hub.drop_after.pop(name, None)
        if name in self.hub.cut_at:
            cut = max(0, self.hub.cut_at[name] - start)
        if cut is None:
            return self._reply(status, headers, part)
        # Promise the whole file, send part of it, then cut the connection.
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        self.wfile.write(part[:cut])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True
        return None

    def _api(self, rest: str) -> None:
        repo_id, _, revision = rest.partition("/revision/")
        repo = self.hub.repos.get(repo_id.strip("/"))
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        default = ("",) if "main" in repo.branches else ()  # no revision: the main branch
        if revision not in (*default, repo.sha, *repo.branches):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        siblings = []
        for name, data in repo.files.items():
            entry: dict[str, object] = {
                "rfilename": name,
                "size": len(data),
                "blobId": git_blob_sha1(data),
            }
            if name.endswith(LFS_SUFFIXES):
                entry["lfs"] = {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            siblings.append(entry)
        info = {"id": repo_id, "sha": repo.sha, "gated": "manual" if repo.gated else False, "private": False, "siblings": siblings}  # fmt: skip
        self._reply(200, {"Content-Type": "application/json"}, json.dumps(info).encode())
        return None


@pytest.fixture
def local_hub() -> Iterator[LocalHub]:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference checkpoint not found at {REFERENCE}")
    hub = LocalHub(repos=reference_repos(), tokens={"hf_granted": "granted"})
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hub
    server.shutdown()
    server.server_close()


@pytest.fixture
def hub_env(local_hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment pointing the hub client at the local hub, with an empty cache and
    the granted token; also applied to this process."""
    env = {
        "HF_ENDPOINT": local_hub.url,
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_HUB_CACHE": str(tmp_path / "hub_cache"),
        "HF_TOKEN": "hf_granted",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SAMAUDIO_MODEL", raising=False)
    return {**os.environ, **env}
