"""Container images: an OCI image store, safe layer unpacking, overlay rootfs, registry pull.

An image is a *manifest* naming a *config* (Entrypoint, Cmd, Env, ...) and an
ordered list of *layers* (tar archives of filesystem changes). The store keeps
them in the OCI image layout and unpacks each layer once, by its ``diff_id``
(the sha256 of the uncompressed tar); a container's root filesystem is an
overlayfs whose lower dirs are those unpacked layers.

Modules (import the one you need; nothing here is imported eagerly, because
images are off the hot path of ``create``):

=============  ==============================================================
``layers``     apply one layer tar to a directory without ever leaving it
``store``      the on-disk store: blobs, index.json, refs, unpacked layers, holds, gc
``archive``    ``docker save`` / OCI archives in (load) and out (save)
``overlay``    overlay mount plan: lower dirs + per-container upper/work, mount()
``rootfs``     prepare()/cleanup(): image name -> (Image, OverlayPlan) for ``run``
``runconfig``  image config -> OCI process (docker's Entrypoint/Cmd/Env/User rules)
``registry``   pull over the OCI distribution API (urllib)
``builtin``    offline images built by images/*.sh (``busybox``, ``localhost/python:3.11``)
``reference``  ``[registry/]repo[:tag][@digest]`` parsing and normalisation
``cli``        click commands (pull, images, image ..., tag, rmi, load, save)
=============  ==============================================================

Read: OCI image-spec (``image-layout.md``, ``manifest.md``, ``config.md``,
``layer.md``), distribution-spec ``spec.md``, the kernel's
``Documentation/filesystems/overlayfs.rst``.
"""
