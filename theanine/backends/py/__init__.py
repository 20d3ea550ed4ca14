"""The py backend: NumPy reference implementations, one generated function per graph."""
