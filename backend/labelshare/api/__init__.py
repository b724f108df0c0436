"""The HTTP API (FastAPI). Only this package speaks HTTP."""
