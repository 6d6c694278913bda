"""``samaudio-daw doctor``: what this machine has, whether SAM-Audio runs here, and with what.

Checks: Python and torch (its CUDA or MPS build), each GPU with its free memory, the
configured model (found, loadable), audio file I/O (a FLAC written and read back, no
ffmpeg), REAPER's resource folder and whether the scripts are installed. Then a plan
(model size, dtype, batch, chunk) and the time for a 3-minute song, from a short
measurement of the recommended size on the recommended device.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SONG_S = 180.0
SONG_PROMPTS = 1
SONG_STEPS = 16


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    plan: dict[str, object] = field(default_factory=dict)
    estimate: dict[str, object] = field(default_factory=dict)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def lines(self) -> list[str]:
        out = [f"{'ok ' if c.ok else 'NO '} {c.name:<14} {c.detail}" for c in self.checks]
        if self.plan:
            p = self.plan
            out.append(
                f"plan           --model facebook/sam-audio-{p['size']} --device {p['device']} "
                f"--dtype {p['dtype']} --chunk {p['chunk_s']:g} (batch {p['batch_size']}): {p['why']}"
            )
        if self.estimate:
            e = self.estimate
            out.append(
                f"estimate       a {SONG_S / 60:g}-minute song, {SONG_PROMPTS} prompt, "
                f"{SONG_STEPS} steps: about {e['song']} with {e['size']} on {e['device']} "
                f"({e['threads']} threads; measured in {e['measure_s']:.0f} s: one DiT call "
                f"{e['dit_eval_s']:.2f} s, decoding {e['decode_s_per_audio_s']:.2f} s per "
                "audio second)"
            )
        return out


def run_doctor(
    model: str | None, measure: bool = True, reaper_path: Path | None = None
) -> DoctorReport:
    report = DoctorReport()
    _python_and_torch(report)
    if importlib.util.find_spec("torch") is None:
        return report
    import torch

    from samaudio_daw.separation.sam_audio import machine

    facts = machine.describe_machine()
    _gpus(report, facts)
    _model(report, model)
    _audio_io(report)
    _reaper(report, reaper_path)
    plan = machine.recommend(facts)
    device = facts.gpus[0].kind if facts.gpus and plan.why.startswith("fits") else "cpu"
    report.plan = {
        "size": plan.size,
        "dtype": plan.dtype,
        "batch_size": plan.batch_size,
        "chunk_s": plan.chunk_s,
        "device": device,
        "why": plan.why,
    }
    if measure:
        from samaudio_daw.separation.sam_audio.config import config_for_size
        from samaudio_daw.separation.sam_audio.device import DTYPES, format_duration

        speed = machine.measure_speed(
            plan.size, torch.device(device), DTYPES[plan.dtype], plan.chunk_s
        )
        seconds = machine.estimate_s(
            speed, config_for_size(plan.size), SONG_S, SONG_PROMPTS, SONG_STEPS
        )
        report.estimate = {
            "size": plan.size,
            "device": device,
            "threads": torch.get_num_threads(),
            "song_s": round(seconds, 1),
            "song": format_duration(seconds),
            "measure_s": speed.measure_s,
            "dit_eval_s": speed.dit_eval_s,
            "encode_s_per_audio_s": speed.encode_s_per_audio_s,
            "decode_s_per_audio_s": speed.decode_s_per_audio_s,
        }
    return report


def _python_and_torch(report: DoctorReport) -> None:
    import sys

    report.add(
        "python", sys.version_info >= (3, 10), sys.version.split()[0] + f" ({sys.executable})"
    )
    missing = [n for n in ("torch", "transformers") if importlib.util.find_spec(n) is None]
    if missing:
        report.add("sam-audio", False, f"missing Python packages: {', '.join(missing)} (pip install torch transformers)")  # fmt: skip
        return
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only"
    if torch.backends.mps.is_built():
        build = "MPS (Apple silicon)"
    report.add("torch", True, f"{torch.__version__}, {build} build, {torch.get_num_threads()} CPU threads")  # fmt: skip
    hub = importlib.util.find_spec("huggingface_hub") is not None
    report.add("huggingface_hub", hub, "installed" if hub else "missing: `model pull` needs it (pip install 'samaudio-daw[hub]')")  # fmt: skip


def _gpus(report: DoctorReport, facts: object) -> None:
    from samaudio_daw.separation.sam_audio.machine import Machine

    assert isinstance(facts, Machine)
    if not facts.gpus:
        why = "this torch is a CPU build" if not facts.cuda_build and not facts.mps_built else "none visible to torch"  # fmt: skip
        report.add("gpu", False, f"no GPU ({why}); SAM-Audio will run on the CPU, slowly")
    for gpu in facts.gpus:
        report.add(f"gpu {gpu.index}", True, f"{gpu.name} ({gpu.kind}): {gpu.free_bytes / 2**30:.1f} of {gpu.total_bytes / 2**30:.1f} GiB free")  # fmt: skip


def _model(report: DoctorReport, model: str | None) -> None:
    from samaudio_daw.errors import UserError
    from samaudio_daw.separation.sam_audio import checkup, store
    from samaudio_daw.separation.sam_audio.backend import MODEL_ENV

    chosen = model or os.environ.get(MODEL_ENV, "").strip()
    installed = store.installed()
    names = ", ".join(f"{m.repo_id} ({store.format_size(m.size_bytes)})" for m in installed)
    report.add("installed", bool(installed), names or "no model pulled yet: samaudio-daw model pull facebook/sam-audio-small")  # fmt: skip
    if not chosen:
        report.add("model", False, f"none configured: pass --model or set {MODEL_ENV}")
        return
    try:
        where = store.parse_source(chosen)
        path = where if isinstance(where, Path) else store.installed_path(where)
        if path is None:
            report.add("model", False, f"{chosen}: not installed; samaudio-daw model pull {chosen}")
            return
        check = checkup.verify(str(path))
    except UserError as error:
        report.add("model", False, f"{chosen}: {error}")
        return
    if check.problems:
        report.add("model", False, f"{chosen}: {check.problems[0]}")
        return
    named = f"{path}" if isinstance(where, Path) else f"{chosen} at {path}"
    report.add("model", True, f"{named}: config.json matches checkpoint.pt")
    _rankers(report, path)


def _rankers(report: DoctorReport, model_dir: Path) -> None:
    """What config.json names besides the model, and which of it runs here (no weights read)."""
    from samaudio_daw.separation.sam_audio.rankers import (
        named_rankers,
        raw_config,
        unused_line,
    )
    from samaudio_daw.separation.sam_audio.sound_activity import SoundActivity
    from samaudio_daw.separation.sam_audio.store import (
        judge_folder,
        ranker_checkpoint,
        span_predictor_line,
        tokenizer_folder,
    )

    raw = raw_config(model_dir)
    parts = []
    specs = named_rankers(raw)
    tokenizer = tokenizer_folder() if any(s.kind == "clap" for s in specs) else None
    pull = "(samaudio-daw model pull --with-rankers)"
    ready = 0
    for spec in specs:
        weight = "" if spec.weight is None else f" with weight {spec.weight:g}"
        if not spec.runnable:
            parts.append(unused_line(spec, specs))
            continue
        if spec.kind == "sound_activity":
            try:
                SoundActivity.from_config(dict(spec.options))
            except (TypeError, ValueError) as error:
                parts.append(f"{spec.label}: {error}")
                continue
            ready += 1
            parts.append(
                f"{spec.label}: needs no weights, ranks --candidates{weight} by how well each "
                "one sounds where the pair's spans are (regions, time selection, --predict-spans)"
            )
            continue
        if spec.kind == "judge":
            folder = judge_folder(spec, model_dir)
            found = f"at {folder}" if folder is not None else None
            if folder is not None and not (folder / "tokenizer.json").is_file():
                parts.append(f"{spec.label}: {found}, its tokenizer.json absent {pull}")
                continue
        else:
            path = ranker_checkpoint(spec, model_dir)
            found = f"checkpoint at {path}" if path is not None else None
            if path is not None and tokenizer is None:
                parts.append(f"{spec.label}: {found}, roberta-base's tokenizer absent {pull}")
                continue
            found = found and f"{found}, tokenizer at {tokenizer}"
        if found is None:
            what = "config.json and checkpoint.pt" if spec.kind == "judge" else "checkpoint"
            parts.append(f"{spec.label}: {what} absent {pull}")
        else:
            ready += 1
            parts.append(f"{spec.label}: {found}, ranks --candidates{weight}")
    if not ready and any(spec.runnable for spec in specs):
        parts.append("--rank-by ranker falls back to presence")
    line = span_predictor_line(raw)
    parts += [line] if line else []
    report.add(
        "rankers",
        True,
        "; ".join(parts)
        or "config.json names no ranker or span predictor: --rank-by ranker falls back to presence",
    )


def _audio_io(report: DoctorReport) -> None:
    import numpy as np

    from samaudio_daw.audio.io import read_audio, write_audio

    try:
        with tempfile.TemporaryDirectory() as folder:
            tone = (0.1 * np.sin(np.arange(4800) / 8.0)).astype(np.float32)[None]
            path = write_audio(Path(folder) / "check.flac", tone, 48000, "24", "flac")
            back, rate = read_audio(path)
            ok = (
                rate == 48000
                and back.shape == tone.shape
                and float(np.abs(back - tone).max()) < 1e-4
            )
    except Exception as error:  # any failure here is what the user needs to see
        report.add("audio i/o", False, f"writing and reading a FLAC failed: {error}")
        return
    import soundfile

    report.add("audio i/o", ok, f"WAV/FLAC through libsndfile {soundfile.__libsndfile_version__} (no ffmpeg needed)")  # fmt: skip


def _reaper(report: DoctorReport, explicit: Path | None) -> None:
    from samaudio_daw.errors import UserError
    from samaudio_daw.reaper.install import CONFIG_FILE_NAME, SCRIPTS_FOLDER, resource_path

    try:
        resource = resource_path(explicit)
    except UserError as error:
        report.add("reaper", False, str(error))
        return
    scripts = resource / "Scripts" / SCRIPTS_FOLDER
    installed = (scripts / CONFIG_FILE_NAME).is_file()
    detail = f"scripts installed in {scripts}" if installed else "scripts not installed: samaudio-daw reaper install"  # fmt: skip
    report.add("reaper", installed, f"resource folder {resource}; {detail}")
