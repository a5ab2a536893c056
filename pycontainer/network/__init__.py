"""Container networking: modes, a bridge with veth pairs, IPAM, NAT, /etc files.

runc leaves networking to whoever made the network namespace (CNI, netavark).
pycontainer has it built in, in the shape of CNI's ``bridge`` + ``host-local``
+ ``portmap`` plugins, with every kernel step traced.

Modes (``parse_mode``)
----------------------
``none``            a new netns with only ``lo`` (up)
``host``            no new netns: the host's interfaces
``bridge``          a new netns, a veth pair to the bridge ``pyc0``, an address from
                    the network's IPAM, a default route via the gateway, NAT
``container:<id>``  join the netns of another container (its ``eth0`` is shared)
``ns:<path>``       join an existing netns by path (``/run/netns/x``, what CNI
                    users hand to runc); a bare absolute path means the same

How networking is requested
---------------------------
* OCI bundles: the annotation ``org.pycontainer.network`` in config.json,
  either a mode string (``"bridge"``, ``"none"``, ``"container:web"``) or a
  JSON object, e.g.::

      "annotations": {"org.pycontainer.network":
        "{\\"mode\\": \\"bridge\\", \\"ports\\": [\\"8080:80\\"], \\"hostname\\": \\"web\\"}"}

  Without the annotation pycontainer behaves like runc: it follows
  ``linux.namespaces`` and only brings ``lo`` up in a new netns
  (:func:`loopback`), no pyroute2, no bridge.
* Porcelain / Python API: the same request as a dict (``--net``/``-p``
  become ``{"mode": ..., "ports": [...]}``); ``bridge`` is the porcelain's
  default.

Request keys (all optional but ``mode``): ``network`` ("pyc"), ``bridge``
("pyc0"), ``subnet`` ("10.89.0.0/24": not podman's 10.88.0.0/16 nor docker's
172.17.0.0/16), ``gateway`` (first address), ``ip`` (a fixed address),
``mtu`` (1500), ``ports`` (list of ``[hostip:]hostport:containerport[/tcp|udp]``
or dicts), ``masquerade`` (true), ``hostname``, ``dns``, ``dns_search``,
``dns_options``, ``extra_hosts`` ({name: ip}), ``state_dir``
("/var/lib/pycontainer/network"), ``nft_table`` ("pycontainer").
A network's bridge/subnet are fixed by its first use (``<state_dir>/<network>/network.json``).

Lifecycle (who calls what, when)
--------------------------------
(``plan = for_annotation(value)`` bundles steps 1-3 as methods.)

1. before forking: ``req = parse_request(value)``; ``namespace_action(req)``
   tells the init (or stage 1) whether to unshare a netns, stay in the host's, or setns to a
   path; optional ``preload(req)`` right after the *last* fork starts
   importing pyroute2 in a thread so the import overlaps the child's work.
2. after stage 2 exists, before the container's program runs:
   ``saved = setup(container_id, init_pid, req, files_dir=state_dir)``;
   store ``saved`` (JSON) in the container's state; the init bind-mounts
   ``saved["files"]`` over /etc/hosts, /etc/hostname, /etc/resolv.conf.
3. on delete: ``teardown(container_id, saved)`` (tolerant, idempotent).
4. ``gc(live_ids)``: reclaims leases, veths and published ports of containers
   that no longer exist (crash, kill -9 in the middle of setup).

Importing this package does not import pyroute2 (measured with
``python -X importtime``); only :func:`setup`/:func:`gc` of a bridge network
do, and :func:`teardown` only while the veth still exists.

Limits: IPv4 only (no IPv6 address, route or published port); published
ports need nothing listening on the host port (checked with bind(2)); another
table's ``forward`` chain with policy drop (Docker's) can still drop routed
container traffic: pycontainer never edits other tables.

Man pages: network_namespaces(7), veth(4), ip-link(8), rtnetlink(7), nft(8);
the modules: :mod:`.request` (modes, options, parsing), :mod:`.lifecycle`
(setup, teardown, Plan), :mod:`.networks` (a network's config, ls, inspect,
gc, rm), :mod:`.ipam` (leases), :mod:`.netns` (entering a netns),
:mod:`.bridge` (links, addresses, routes), :mod:`.nat` (nftables),
:mod:`.files` (/etc files), :mod:`.cli` (``pycontainer network``).
"""

from __future__ import annotations

from .lifecycle import Plan, connect, for_annotation, loopback, preload, setup, teardown
from .networks import gc, inspect, networks, remove_network
from .request import (ANNOTATION, DEFAULT_STATE_DIR, DEFAULTS, Mode, from_annotations,
                      namespace_action, parse_mode, parse_request)

__all__ = ["ANNOTATION", "DEFAULTS", "Mode", "Plan", "connect", "for_annotation", "from_annotations",
           "gc", "inspect", "loopback", "namespace_action", "networks", "parse_mode", "parse_request",
           "preload", "remove_network", "setup", "teardown"]
