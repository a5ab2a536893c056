"""The Container Device Interface (CDI): devices described as edits to config.json.

A vendor ships a spec (``/etc/cdi/*.yaml`` or ``*.json``) naming devices
``vendor/class=name`` and what a container needs to use each: device nodes,
mounts, environment, hooks, extra groups (CDI SPEC.md,
https://github.com/cncf-tags/container-device-interface). The engine, here
the porcelain (``run --device nvidia.com/gpu=0``, ``--gpus``) and the API
(``devices=``, ``device_requests=``), applies them when it writes
config.json, as podman does; the OCI runtime verbs never rewrite a bundle.

Modules: ``spec`` (read and check one file), ``yamlsubset`` (the YAML those
files use), ``registry`` (spec dirs, priorities, conflicts), ``edits``
(apply containerEdits), ``requests`` (the docker/podman flags and
DeviceRequest), ``nvidia`` (a spec from this host's GPUs), ``cli``.
Nothing here is imported unless a device is asked for.
"""
