"""A stateful simulator of the Kemp LoadMaster RESTful API v2, for lbkit's tests (see README.md)."""

from .model import ApiError
from .server import LoadMasterServer, Simulator

__all__ = ["ApiError", "LoadMasterServer", "Simulator"]
