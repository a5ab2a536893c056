"""Building images from a Containerfile, daemonless: every RUN step is a pycontainer container.

Modules, in the order a build uses them:

* ``containerfile`` - the Containerfile language: parser directives, line
  continuations, comments, heredocs, and docker's variable substitution;
* ``ignore``        - ``.dockerignore``/``.containerignore`` patterns;
* ``plan``          - stages, ``--target``, and which stages a target needs;
* ``merged``        - reading an image's merged tree from its layer dirs
  (what overlayfs would show) without mounting it;
* ``copy``          - COPY/ADD into a fresh upper dir, and its content checksum;
* ``cache``         - step cache keys -> images in the store;
* ``executor``      - runs the steps (RUN through ``pycontainer.api.operations.op_run``);
* ``cli``           - the ``build`` and ``commit`` verbs; ``api`` - ``images.build``.

Read: Dockerfile reference (docs.docker.com/reference/dockerfile), the
``.dockerignore`` section of it, and image-spec ``config.md``.
"""

from ..errors import PyContainerError


class BuildError(PyContainerError):
    """A build could not run as written (bad Containerfile, context, a value): exit 1, as
    docker build's ("failed to solve"); a flag click cannot parse is 125 (dockercli.py)."""


class StepFailed(PyContainerError):
    """A RUN step exited non-zero: the build stops (docker build exits 1)."""

    exit_code = 1
