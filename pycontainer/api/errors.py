"""docker-py's ``docker.errors`` names, as pycontainer's own exception classes.

One hierarchy (``pycontainer/errors.py``): ``APIError`` and ``DockerException`` are
``PyContainerError``, the base of every error the runtime raises, so ``except
docker.errors.APIError`` written for docker-py catches what this API raises.
"""

from __future__ import annotations

from ..build import BuildError
from ..errors import ContainerError, ImageNotFound, NotFound
from ..errors import PyContainerError as APIError
from ..errors import PyContainerError as DockerException
from ..errors import PyContainerError as InvalidArgument

__all__ = ["APIError", "BuildError", "ContainerError", "DockerException", "ImageNotFound",
           "InvalidArgument", "NotFound"]
