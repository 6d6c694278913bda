"""One item's work, decided before any audio is separated: preset, prompts, stem files, key.

``plan_item`` checks an item's audio, preset and prompts and fixes its stem files and
cache key; ``ItemWork.separate`` writes them. Every executor (serial, process pool,
Ray) hands out ``ItemWork`` values, so they travel between processes as plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from samaudio_daw.audio.io import AudioInfo, audio_info
from samaudio_daw.audio.wav import BEXT_FORMATS, read_time_reference
from samaudio_daw.jobs.cache import audio_digest, cache_key
from samaudio_daw.jobs.manifest import Job, JobItem
from samaudio_daw.jobs.stems import (
    ItemAudio,
    SeparatedItem,
    StemPlan,
    plan_stems,
    separate_item,
)
from samaudio_daw.presets import Preset, PresetLibrary, preset_for_prompts, preset_to_dict
from samaudio_daw.separation.base import Prompt, Separator


@dataclass(frozen=True)
class ItemWork:
    """Everything needed to separate one item, decided before any audio is separated."""

    item: JobItem
    preset: Preset
    prompts: tuple[Prompt, ...]
    plans: tuple[StemPlan, ...]
    source: ItemAudio
    key: str

    def separate(
        self, separator: Separator, progress: Callable[[float], None], cancel: Callable[[], bool]
    ) -> SeparatedItem:
        """Write every planned stem of this item; the frames in each and presence scores."""
        return separate_item(
            self.source, self.preset, self.prompts, self.plans, separator, progress, cancel
        )


def resolve_preset(item: JobItem, library: PresetLibrary, keep_residual: bool | None) -> Preset:
    """The item's preset by name, or an ad-hoc one made from its prompts."""
    if item.preset is not None:
        return library.get(item.preset)
    keep = True if keep_residual is None else keep_residual
    return preset_for_prompts(item.prompts, keep_residual=keep)


def _prompts(item: JobItem, preset: Preset) -> tuple[Prompt, ...]:
    # Time spans go to the model only when the preset asks for them (or prompts are ad hoc).
    spans = item.spans if (preset.use_spans or item.preset is None) else ()
    return tuple(Prompt(stem.prompt, spans) for stem in preset.stems)


def _time_reference(item: JobItem, sample_rate: int, file_format: str) -> int | None:
    """Where the stems sit on a timeline: the item's position, or the input's own BWF stamp."""
    if item.mode != "file":
        return round(item.position_s * sample_rate)
    return read_time_reference(item.audio) if file_format in BEXT_FORMATS else None


def _sound_of(preset: Preset) -> dict[str, object]:
    """The parts of a preset that change the stems (not its description or file location)."""
    described = preset_to_dict(preset)
    return {k: v for k, v in described.items() if k not in ("description", "source_path")}


def check_item(
    item: JobItem, library: PresetLibrary, separator: Separator, keep_residual: bool | None = None
) -> tuple[Preset, tuple[Prompt, ...], AudioInfo]:
    """What can be checked before a sample is read: the preset, that the backend serves its
    prompts, and on audio with this many channels (the file's header)."""
    preset = resolve_preset(item, library, keep_residual)
    prompts = _prompts(item, preset)
    separator.check_prompts(prompts)
    info = audio_info(item.audio)
    check_channels = getattr(separator, "check_channels", None)
    if check_channels is not None:
        check_channels(prompts, info.channels)
    return preset, prompts, info


def plan_item(job: Job, item: JobItem, library: PresetLibrary, separator: Separator) -> ItemWork:
    """Check an item's audio, preset and prompts, and decide its stem files and cache key."""
    preset, prompts, info = check_item(item, library, separator, job.keep_residual)
    keep = preset.keep_residual if job.keep_residual is None else job.keep_residual
    plans = plan_stems(item.name, preset, job.output_dir, job.file_format, keep)
    time_reference = _time_reference(item, info.sample_rate, info.format)
    source = ItemAudio(item.audio, job.bit_depth or item.bit_depth, job.file_format, time_reference)
    recipe = {
        "preset": _sound_of(preset),
        "prompts": [[p.text, [[s.sign, s.start_s, s.end_s] for s in p.spans]] for p in prompts],
        "backend": separator.name,
        "settings": separator.settings(),
        "files": [str(plan.path.name) for plan in plans],
        "bit_depth": source.bit_depth,
        "time_reference": time_reference,
    }
    return ItemWork(
        item, preset, prompts, plans, source, cache_key(audio_digest(item.audio), recipe)
    )
