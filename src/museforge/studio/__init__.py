"""The studio: a local web page where a person and the machine make things together.

``create_app`` builds the FastAPI application; ``museforge studio`` serves it on 127.0.0.1.
Every page is a thin layer over the media's public Python API and the store.
"""

from museforge.studio.app import create_app
from museforge.studio.config import StudioConfig

__all__ = ["StudioConfig", "create_app"]
