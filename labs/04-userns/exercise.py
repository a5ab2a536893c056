"""Lab 04: complete this function (see README.md)."""


def write_id_maps(pid: int, outside: int, count: int) -> None:
    """Map uids and gids 0..count-1 inside PID's user namespace to outside..outside+count-1.

    Write "0 OUTSIDE COUNT" to /proc/PID/uid_map and to /proc/PID/gid_map
    (one write each; the kernel accepts a map only once).
    """
    raise NotImplementedError("TODO: write the uid_map and gid_map lines")
