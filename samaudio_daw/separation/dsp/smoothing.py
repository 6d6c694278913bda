"""Moving means and minima over spectrogram-shaped arrays, with zeros beyond the edges.

Arrays are (frames, bins) float32. Means count the cells beyond the edges as zeros
(silence), so a block padded with real silence and a block cut at its edge give
the same values: this keeps block-wise processing equal to whole-file processing.
"""

from __future__ import annotations

import numpy as np


def moving_mean(values: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Mean over ``width`` (odd) neighbours along ``axis``, zeros beyond the edges; float32.

    Summed in float64 (cumulative sums) so quiet passages next to loud ones stay exact.
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"width must be an odd number >= 1, got {width}")
    if width == 1:
        return values.astype(np.float32, copy=True)
    half, length = width // 2, values.shape[axis]

    def along(start: int, stop: int | None) -> tuple[slice, ...]:
        index = [slice(None)] * values.ndim
        index[axis] = slice(start, stop)
        return tuple(index)

    # sums[i + width] - sums[i] is the sum over [i - half, i + half], clipped to the array.
    shape = list(values.shape)
    shape[axis] = length + width
    sums = np.empty(shape, dtype=np.float64)
    sums[along(0, half + 1)] = 0.0
    np.cumsum(values, axis=axis, dtype=np.float64, out=sums[along(half + 1, half + 1 + length)])
    sums[along(half + 1 + length, None)] = sums[along(half + length, half + length + 1)]
    out = np.empty(values.shape, dtype=np.float32)
    np.subtract(sums[along(width, None)], sums[along(0, length)], out=out, casting="same_kind")
    out *= np.float32(1.0 / width)
    return out


def moving_min_over_frames(values: np.ndarray, width: int) -> np.ndarray:
    """Minimum over ``width`` (odd) neighbouring frames (axis 0) of (frames, bins) values.

    Cells beyond the edges are ignored (+inf), as are cells the caller set to +inf;
    a window with nothing else left gives +inf. Van Herk / Gil-Werman: three passes,
    whatever the width.
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"width must be an odd number >= 1, got {width}")
    frames, bins = values.shape
    half = width // 2
    groups = -(-(frames + 2 * half) // width)
    padded = np.full((groups * width, bins), np.inf, dtype=np.float32)
    padded[half : half + frames] = values
    grouped = padded.reshape(groups, width, bins)
    prefix = np.minimum.accumulate(grouped, axis=1).reshape(-1, bins)
    suffix = np.minimum.accumulate(grouped[:, ::-1], axis=1)[:, ::-1].reshape(-1, bins)
    # The window of output frame i is padded[i : i + width]: a suffix plus a prefix.
    return np.minimum(suffix[:frames], prefix[width - 1 : width - 1 + frames])
