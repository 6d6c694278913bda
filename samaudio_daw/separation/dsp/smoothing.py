"""Moving means, minima and medians over spectrogram-shaped arrays, with zeros beyond the edges.

Arrays are (frames, bins) float32. Means count the cells beyond the edges as zeros
(silence), so a block padded with real silence and a block cut at its edge give
the same values: this keeps block-wise processing equal to whole-file processing.
"""

from __future__ import annotations

import numpy as np


def moving_mean(values: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Mean over ``width`` (odd) neighbours along ``axis`` of a 2-D array, zeros beyond the edges.

    float32 out. Narrow windows add shifted copies; wide ones use cumulative sums in
    float64 (so quiet cells next to loud ones stay exact), in slices of rows so the
    float64 working copy stays small whatever the block length.
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"width must be an odd number >= 1, got {width}")
    if values.ndim != 2 or axis not in (0, 1):
        raise ValueError(f"expected a 2-D array and axis 0 or 1, got {values.shape}, {axis}")
    if width <= _SHIFTED_SUM_WIDTH:
        return _shifted_sum(values, width, axis) * np.float32(1.0 / width)
    out = np.empty(values.shape, dtype=np.float32)
    rows = max(1, (1 << 20) // values.shape[1]) if axis == 1 else values.shape[0]
    columns = max(1, (1 << 20) // values.shape[0]) if axis == 0 else values.shape[1]
    for row in range(0, values.shape[0], rows):
        for column in range(0, values.shape[1], columns):
            part = (slice(row, row + rows), slice(column, column + columns))
            out[part] = _cumulative_mean(values[part], width, axis)
    return out


# Up to this width, summing shifted copies is faster than cumulative sums.
_SHIFTED_SUM_WIDTH = 9


def _shifted_sum(values: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Sum over ``width`` neighbours along ``axis`` by adding shifted copies; float32."""
    out = values.astype(np.float32, copy=True)
    length = values.shape[axis]

    def cut(start: int, stop: int) -> tuple[slice, ...]:
        index = [slice(None), slice(None)]
        index[axis] = slice(start, stop)
        return tuple(index)

    for shift in range(1, min(width // 2, length - 1) + 1):
        out[cut(shift, length)] += values[cut(0, length - shift)]
        out[cut(0, length - shift)] += values[cut(shift, length)]
    return out


def _cumulative_mean(values: np.ndarray, width: int, axis: int) -> np.ndarray:
    """``moving_mean`` of a slice through float64 cumulative sums along ``axis``."""
    half, length = width // 2, values.shape[axis]
    shape = list(values.shape)
    shape[axis] = length + width
    # sums[i + width] - sums[i] is the sum over [i - half, i + half], clipped to the array.
    sums = np.zeros(shape, dtype=np.float64)
    moved = np.moveaxis(sums, axis, 0)
    np.cumsum(
        values,
        axis=axis,
        dtype=np.float64,
        out=np.moveaxis(moved[half + 1 : half + 1 + length], 0, axis),
    )
    moved[half + 1 + length :] = moved[half + length]
    window_sums = moved[width:] - moved[:-width]
    window_sums *= 1.0 / width
    return np.moveaxis(window_sums, 0, axis)


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


# Compare-exchange pairs whose fifth output is the median of nine (Paeth's network).
_MEDIAN_OF_9 = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)  # fmt: skip
# Frames sorted at once: keeps the nine working rows in cache.
_MEDIAN_CHUNK = 64


def median_of_9_over_frames(values: np.ndarray, step: int, beyond: float) -> np.ndarray:
    """Median of the frames ``i + k * step``, k = -4..4, for each frame i of (frames, bins).

    Frames beyond the edges count as ``beyond``. Nine taps spread ``step`` apart
    span 8 * step + 1 frames for the price of a 19-exchange sorting network; float32.
    """
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    frames, bins = values.shape
    half = 4 * step
    padded = np.full((frames + 2 * half, bins), beyond, dtype=np.float32)
    padded[half : half + frames] = values
    out = np.empty((frames, bins), dtype=np.float32)
    taps = np.empty((9, _MEDIAN_CHUNK, bins), dtype=np.float32)
    lower = np.empty((_MEDIAN_CHUNK, bins), dtype=np.float32)
    for first in range(0, frames, _MEDIAN_CHUNK):
        count = min(_MEDIAN_CHUNK, frames - first)
        rows, low = taps[:, :count], lower[:count]
        for k in range(9):
            rows[k] = padded[first + k * step : first + k * step + count]
        for i, j in _MEDIAN_OF_9:
            np.minimum(rows[i], rows[j], out=low)
            np.maximum(rows[i], rows[j], out=rows[j])
            rows[i] = low
        out[first : first + count] = rows[4]
    return out
