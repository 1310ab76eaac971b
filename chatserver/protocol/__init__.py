"""The wire protocol without I/O: frames, codec, lifecycle, limits and errors."""
