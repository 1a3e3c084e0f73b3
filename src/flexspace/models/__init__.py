"""Process models: the plug-in base class and the shipped case studies."""
from .base import ModelInstance, NotSquareError, ProcessModel

__all__ = ["ProcessModel", "ModelInstance", "NotSquareError"]
