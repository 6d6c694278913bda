"""REAPER projects: the lossless .rpp reader/writer (``rpp``), a typed view (``model``),
media lookup (``media``), the project's own renderer (``timeline``), stem-track import
(``stem_tracks``) and fresh projects for tests and the demo (``builder``)."""
