"""Lab 04, reference answers."""


def write_id_maps(pid: int, outside: int, count: int) -> None:
    for kind in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{kind}", "w") as f:
            f.write(f"0 {outside} {count}\n")
