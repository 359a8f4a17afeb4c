"""The studio's routes: one module per page or medium, each thin over the Python API."""
