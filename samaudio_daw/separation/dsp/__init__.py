"""The `dsp` separation backend: CPU signal processing, no model weights.

``DspSeparator`` is what the backend registry builds; the modules hold its parts:
``stft`` (transform), ``smoothing`` (moving means and minima), ``masks``
(percussive/sustained, frequency regions, centre/sides), ``noise`` (noise floor
and mask) and ``hum`` (mains hum detection and resynthesis).
"""

from samaudio_daw.separation.dsp.separator import ALGORITHM_VERSION, DspSeparator, DspSettings

__all__ = ["ALGORITHM_VERSION", "DspSeparator", "DspSettings"]
