"""Low-level helpers that the rest of the kernel builds on."""
