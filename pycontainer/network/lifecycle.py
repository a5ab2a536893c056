"""Networking one container: ``setup`` after its init exists, ``teardown`` on delete, and ``Plan``.

``setup`` follows the request's mode: ``none`` brings ``lo`` up (netns.py,
no pyroute2), ``host`` only writes /etc files, ``bridge`` reserves an address
(ipam.py), plugs a veth pair into the bridge (bridge.py, veth(4),
rtnetlink(7)) and publishes ports (nat.py, nft(8)); every step it made is
undone if a later one fails. ``teardown`` undoes a setup, even one killed
half-way (``Plan.pending``), tolerant and idempotent.
"""

from __future__ import annotations

import os

from .. import trace
from ..errors import NetworkError
from .request import ANNOTATION, DEFAULT_STATE_DIR, Mode, namespace_action, parse_request

FIELD = f"annotations[{ANNOTATION}]"        # what the trace names as the network's config field


def asked_by(kind: str, ports=()) -> str:
    """The trace's field for a network step: the annotation and the docker flags it holds."""
    if ports:
        return f"{FIELD} (-p " + " -p ".join(_port_text(p) for p in ports) + ")"
    return f"{FIELD} (--network {kind})"


def _port_text(p) -> str:
    if not isinstance(p, dict):
        return str(p)
    host = f"{p.get('host_ip')}:" if p.get("host_ip") else ""
    return f"{host}{p.get('host_port')}:{p.get('container_port')}/{p.get('protocol', 'tcp')}"


class Plan:
    """A parsed request bound to the module functions: what the runtime holds.

    ``plan = for_annotation(value)``; then ``plan.setup(id, pid)`` → saved,
    ``plan.teardown(id, saved)`` (same as the module-level :func:`teardown`).
    """

    def __init__(self, request):
        self.request = parse_request(request)

    @property
    def mode(self) -> Mode:
        return self.request["mode"]

    def namespace_action(self):
        return namespace_action(self.request)

    def preload(self) -> None:
        preload(self.request)

    def setup(self, container_id: str, pid, files_dir: str | None = None, early: bool = False) -> dict:
        return setup(container_id, pid, self.request, files_dir=files_dir, early=early)

    def early_files(self, container_id: str, files_dir: str) -> dict:
        """Bridge mode: write /etc/hosts, /etc/hostname and /etc/resolv.conf now, with all but
        the address (not reserved yet), so that the init can bind-mount them while the veth is
        made (``setup(..., early=True)`` then fills /etc/hosts in place). -> their paths."""
        from . import files
        r = self.request
        return files.write(files_dir, _contents(r, r["hostname"] or container_id[:12], None, False))

    def teardown(self, container_id: str, saved: dict | None) -> None:
        teardown(container_id, saved)

    def pending(self) -> dict:
        """What the runtime records *before* setup: enough for :func:`teardown` to
        undo a setup that was killed half-way (``delete --force`` after kill -9)."""
        r = self.request
        if r["mode"].kind != "bridge":
            return {"mode": r["mode"].kind}
        return {"mode": "bridge", "pending": True, "network": r["network"], "subnet": r["subnet"],
                "gateway": r["gateway"], "state_dir": r["state_dir"], "nft_table": r["nft_table"]}

    def __repr__(self):
        return f"Plan({self.mode})"


def for_annotation(value) -> Plan:
    """The value of ``org.pycontainer.network`` (mode string or JSON) → a :class:`Plan`."""
    return Plan(value)


def preload(req: dict) -> None:
    """Start importing pyroute2 in a daemon thread (bridge mode only).

    Call it after the runtime's last fork: a thread that holds the import
    lock must not be forked. :func:`setup` then finds pyroute2 imported.
    """
    if req["mode"].kind != "bridge":
        return
    import threading

    from . import rtnl

    def imp():
        try:
            with trace.step("import pyroute2", asked_by("bridge"), thread="pyc-preload",
                            note="in a thread, while the init works"):
                rtnl.load()
        except Exception:
            pass   # setup() will report it
    threading.Thread(target=imp, name="pyc-preload", daemon=True).start()


def loopback(target) -> None:
    """Bring ``lo`` up in the netns of ``target`` (pid or path); no pyroute2."""
    from . import netns
    netns.lo_up(netns.path_of(target))


# -- setup / teardown --------------------------------------------------------------------

def setup(container_id: str, pid, request, files_dir: str | None = None, early: bool = False) -> dict:
    """Network the container whose init is ``pid`` (or netns path) as ``request`` asks.

    Returns a JSON-able dict of what was made, for :func:`teardown`. On any
    failure everything made so far is undone and NetworkError raised. ``early``: the
    files were written by ``Plan.early_files`` (and may be mounted): /etc/hosts is
    rewritten in place.
    """
    from .ipam import check_id
    check_id(container_id)
    req = parse_request(request)
    mode = req["mode"]
    saved = {"mode": mode.kind, "ref": mode.ref}
    name = req["hostname"] or container_id[:12]
    with trace.step("network setup", asked_by(mode.kind), container=container_id, mode=mode.kind), \
            trace.asked_by(asked_by(mode.kind)):
        if mode.kind == "none":
            if pid is not None:
                loopback(pid)
            contents = _contents(req, name, None, keep_loopback=False)
        elif mode.kind == "host":
            contents = _contents(req, name, None, keep_loopback=True)
            from . import files
            contents["/etc/hosts"] = files.host_hosts(name, req["extra_hosts"])
        elif mode.kind == "bridge":
            saved.update(_setup_bridge(container_id, pid, req))
            contents = _contents(req, name, saved["ip"], keep_loopback=False)
        else:   # container / netns: someone else owns that namespace's setup
            contents = {}
        if files_dir and contents:
            from . import files
            # early: into the files the init may have mounted (only /etc/hosts changes)
            saved["files"] = files.write(files_dir, contents, in_place=early)
    return saved


def connect(container_id: str, pid, request, ifname: str, default_route: bool) -> dict:
    """One more bridge interface ``ifname`` in the running container's netns (``network
    connect``): a veth named after container and network, an address from that network's
    pool (or ``request["ip"]``), a default route only if ``default_route``. -> what was made,
    for :func:`teardown`; on failure nothing is left and NetworkError raised."""
    from .bridge import veth_name
    from .ipam import check_id
    check_id(container_id)
    req = parse_request(request)
    if req["mode"].kind != "bridge" or req["ports"]:
        raise NetworkError("network connect: a bridge network, without ports", stage="network")
    with trace.step("network connect", container=container_id, network=req["network"]):
        saved = {"mode": "bridge", "ref": None}
        saved.update(_setup_bridge(container_id, pid, req, ifname=ifname,
                                   host_ifname=veth_name(container_id, req["network"]),
                                   default_route=default_route))
    return saved


def _contents(req, name, ip, keep_loopback):
    from . import files
    return {"/etc/hosts": files.hosts(name, ip, req["extra_hosts"]),
            "/etc/hostname": files.hostname(name),
            "/etc/resolv.conf": files.resolv_conf(req["dns"], req["dns_search"], req["dns_options"],
                                                  keep_loopback=keep_loopback)}


def _setup_bridge(container_id: str, pid, req, ifname: str = "eth0", host_ifname: str | None = None,
                  default_route: bool = True) -> dict:
    import ipaddress

    from . import bridge
    from .ipam import Ipam
    from .networks import config
    net = config(req)
    ipam = Ipam(net["dir"], net["subnet"], net["gateway"])
    prefixlen = ipaddress.IPv4Network(net["subnet"]).prefixlen
    ports = req["ports"]
    made = {"network": net["name"], "bridge": net["bridge"], "subnet": net["subnet"],
            "gateway": net["gateway"], "prefixlen": prefixlen, "nft_table": net["nft_table"],
            "state_dir": req["state_dir"], "ports": ports}
    undo = []
    try:
        if ports:
            from . import nat
            nat.check_free(ports)
        with trace.step("ipam reserve", f"{FIELD} (--network {net['name']} --ip)", network=net["name"],
                        container=container_id, dir=net["dir"], note="a lease file named by the address"):
            ip = str(ipam.reserve(container_id, want=req["ip"]))
        undo.append(lambda: ipam.release(container_id))
        made["ip"] = ip
        with trace.step("import pyroute2", asked_by("bridge"),
                        note="its rtnetlink message classes (rtnl.py); waits for the preloading "
                             "thread, if any (~15 ms when cold)"):
            from . import rtnl
            rtnl.load()
        with bridge.host() as ipr:
            br, fresh = bridge.ensure_bridge(ipr, net["bridge"], net["gateway"], prefixlen,
                                             net["mtu"])
            made["host_ifname"] = host_ifname or bridge.veth_name(container_id)
            undo.append(lambda: bridge.detach(made["host_ifname"]))
            made.update(bridge.attach(ipr, container_id, pid, br, ip, prefixlen,
                                      net["gateway"] if default_route and not net.get("internal")
                                      else None, net["mtu"],
                                      ifname=ifname, host_ifname=made["host_ifname"],
                                      group=req["egress_group"],
                                      mac=req.get("mac") if ifname == "eth0" else None))
        if fresh or ports:
            from . import nat
            with trace.asked_by(asked_by("bridge", ports) if ports else asked_by("bridge")):
                nat.setup(net["nft_table"], net["subnet"], container_id, ip, ports,
                      masquerade=net.get("masquerade", True), fresh=fresh)
        if fresh and net.get("masquerade", True):
            # masquerade to other networks needs routing between interfaces
            bridge.write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    except BaseException as exc:
        for fn in reversed(undo):
            try:
                fn()
            except Exception:
                pass
        if isinstance(exc, NetworkError) or not isinstance(exc, Exception):
            raise
        raise NetworkError(f"bridge setup for {container_id!r}: {exc}", stage="network") from exc
    return made


def teardown(container_id: str, saved: dict | None, wait: bool = True):
    """Undo :func:`setup` (and the :func:`connect`s recorded under ``saved["attached"]``):
    ports, veths, leases, files. Tolerant and idempotent.

    ``wait=False`` (``delete``): the veth is deleted in a thread, which the rest of the
    caller's teardown (cgroup, files, nft) overlaps; returns ``finish()``, which the caller
    must call before it reports the container gone: it waits until the kernel has unlisted
    the veth (rtnl.LinkWatch: ~1 ms after the request; the deleting call itself returns
    13-36 ms later, after RCU grace periods), then gives the address back (not before: a
    new container would get it while the old veth is on the bridge) and raises what went
    wrong. ``wait=True``: all of it before returning (None)."""
    finish = _teardown(container_id, saved)
    if wait:
        finish()
        return None
    return finish


def _teardown(container_id: str, saved: dict | None):
    subs = [_teardown(container_id, sub) for sub in list((saved or {}).get("attached", {}).values())]
    if not saved or saved.get("mode") != "bridge":
        _remove_files(saved)

        def finish_subs():
            for f in subs:
                f()
        return finish_subs
    from . import bridge
    from .ipam import Ipam
    errors = []
    field = f"{FIELD} (delete, --rm)"
    thread = None
    with trace.step("network teardown", field, container=container_id,
                    mode="bridge"), trace.asked_by(field):
        ports = saved.get("ports")
        veth = saved.get("host_ifname") or bridge.veth_name(container_id)
        index = _ifindex(veth)
        if index is not None:
            from . import rtnl
            rtnl.load()                       # here, not in the thread: imports stay in order
            import threading
            try:                              # before the delete: its notification is not missed
                watch = rtnl.LinkWatch(index)
            except OSError:
                watch = None                  # then finish() waits for the answer
            answered, answer = os.pipe()      # EOF when the delete's request is answered

            def delete():
                try:
                    bridge.detach(veth, field=field)
                except Exception as exc:  # noqa: BLE001 - reported by finish()
                    errors.append(f"delete veth {veth!r}: {exc}")
                finally:
                    os.close(answer)
            # a daemon: the process may end while the kernel still waits for the link's last
            # references (the thread's sendmsg ends that wait all the same; nothing is undone)
            thread = threading.Thread(target=delete, name="pyc-veth-del", daemon=True)
            try:
                thread.start()
            except RuntimeError:              # no thread to be had: delete it here, now
                thread = None
                delete()
                os.close(answered)
                if watch is not None:
                    watch.close()
        else:
            # the container's netns died with its last process and took the
            # veth pair along: no netlink needed, no pyroute2 import
            trace.event("veth already gone", ifname=veth)
        if saved.get("pending") or ports:
            from . import nat
        if saved.get("pending"):
            # setup was killed half-way: find what it published by the container's id
            table = nat.list_table(saved["nft_table"]) or {}
            ports = [p for p in table.get("ports", []) if p["container_id"] == container_id]
        for p in ports or []:
            try:
                nat.remove_ports(saved["nft_table"], container_id,
                                 p.get("container_ip", saved.get("ip")), [p])
            except NetworkError as exc:
                errors.append(str(exc))
        _remove_files(saved)

    def finish():
        for f in subs:
            try:
                f()
            except NetworkError as exc:
                errors.append(str(exc))
        if thread is not None:
            with trace.step("wait for veth unlisting", field, ifname=veth, thread="pyc-veth-del",
                            note="until its RTM_DELLINK notification: down, off the bridge, name "
                                 "free; the kernel's wait for its last references goes on"):
                try:
                    if watch is None or not watch.wait(answered) or not _unlisted(veth):
                        thread.join()         # answered first (an error?), or a lost notice
                finally:
                    if watch is not None:
                        watch.close()
                    os.close(answered)
        directory = os.path.join(saved.get("state_dir", DEFAULT_STATE_DIR), saved["network"])
        try:
            with trace.step("ipam release", field, network=saved["network"], container=container_id):
                Ipam(directory, saved["subnet"], saved.get("gateway")).release(container_id)
        except NetworkError as exc:
            errors.append(str(exc))
        if errors:
            raise NetworkError(f"teardown of {container_id!r} left something behind: "
                               f"{'; '.join(errors)}; run `pycontainer network gc`", stage="network")
    return finish


def _ifindex(ifname: str) -> int | None:
    """The host link's index (sysfs-class-net(5)), None if there is no such link."""
    try:
        with open(f"/sys/class/net/{ifname}/ifindex", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _unlisted(ifname: str) -> bool:
    """The kernel removes a link's /sys/class/net entry a few steps after its RTM_DELLINK
    notification (same function, no sleep between): wait for that too (bounded), so that a
    link of the same name can be made at once. False: still there after 50 ms."""
    import time
    for _ in range(250):
        if not os.path.exists(f"/sys/class/net/{ifname}"):
            return True
        time.sleep(0.0002)
    return False


def _remove_files(saved):
    for path in (saved or {}).get("files", {}).values():
        try:
            os.unlink(path)
        except OSError:
            pass
