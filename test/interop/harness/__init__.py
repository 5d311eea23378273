"""Helpers for the interop suite: server processes, real-client devices, raw v11 HTTP, comparisons."""
