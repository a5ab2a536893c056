"""``python -I -m pycontainer.api --serve FD``: the API's helper process (api/helper.py)."""

import sys

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        from .helper import serve
        serve(int(sys.argv[2]))
    else:
        sys.exit("usage: python -I -m pycontainer.api --serve FD (started by pycontainer.Client)")
