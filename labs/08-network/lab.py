"""Lab 08's program: a child in its own network namespace, bridged, addressed, NATed, serving port 80."""

import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402
from pycontainer import syscalls  # noqa: E402
from pycontainer.network.ipam import Ipam  # noqa: E402
from pyroute2 import IPRoute  # noqa: E402

BRIDGE, SUBNET, GATEWAY, PREFIX = "lab08br", "10.201.0.0/24", "10.201.0.1", 24
TABLE, HOST_PORT, PORT = "pycontainer_lab08", 8080, 80
ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
sdir = labkit.state_dir("08")
address = str(Ipam(os.path.join(sdir, "leases"), SUBNET, GATEWAY).reserve("lab08"))

to_parent, from_child = os.pipe()
from_parent, to_child = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(to_parent)                          # so a parent that dies gives us EOF, not a hang
    os.close(to_child)
    syscalls.unshare(syscalls.CLONE_NEWNET)
    os.write(from_child, b"n")
    if os.read(from_parent, 1) != b"v":          # the veth end has arrived (or the parent died)
        os._exit(1)
    with IPRoute() as ipr:
        ex.configure_inside(ipr, "lab08c", address, PREFIX, GATEWAY)
    srv = socket.create_server(("0.0.0.0", PORT))
    os.write(from_child, b"s")
    while True:
        conn, _ = srv.accept()
        conn.sendall(b"hello from lab 08\n")
        conn.close()
os.close(from_child)
os.close(from_parent)
os.read(to_parent, 1)
with IPRoute() as ipr:
    ex.make_bridge(ipr, BRIDGE, GATEWAY, PREFIX)
    ex.plug_veth(ipr, "lab08h", "lab08c", BRIDGE, pid)
os.write(to_child, b"v")
subprocess.run(["nft", "-f", "-"], check=True, text=True,
               input=ex.nat_rules(TABLE, BRIDGE, SUBNET, GATEWAY, HOST_PORT, address, PORT))
os.read(to_parent, 1)
labkit.report("08", pid=pid, address=address, gateway=GATEWAY, bridge=BRIDGE, table=TABLE,
              host_port=HOST_PORT, leases=os.path.join(sdir, "leases"))
labkit.wait_forever()
