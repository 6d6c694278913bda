"""``python -m samaudio_daw`` runs the command line."""

from samaudio_daw.cli import main

main(prog_name="samaudio-daw")
