"""The scanning core: media bytes in, a Verdict out. Nothing here imports discord."""
