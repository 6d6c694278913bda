"""samaudio-daw: pull any sound out of a mix by describing it, inside REAPER projects."""

__version__ = "0.1.0"
