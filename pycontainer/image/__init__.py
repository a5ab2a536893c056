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
``store``      the on-disk store: blobs, index.json, refs, unpacked layers, gc
``overlay``    overlay mount options for lower dirs + per-container upper/work
``registry``   pull over the OCI distribution API (urllib)
``builtin``    the offline ``busybox`` image built from images/build-busybox.sh
``reference``  ``[registry/]repo[:tag][@digest]`` parsing and normalisation
``cli``        click commands (pull, images, image inspect, tag, rmi, load, save)
=============  ==============================================================

Read: OCI image-spec (``image-layout.md``, ``manifest.md``, ``config.md``,
``layer.md``), distribution-spec ``spec.md``, the kernel's
``Documentation/filesystems/overlayfs.rst``.
"""
