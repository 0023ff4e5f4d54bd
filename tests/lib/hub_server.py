# hub_server.py: imported by the model pull tests' loopback servers (tests/lib on sys.path): the
# Hub's tree-listing entry for a file, a GET answered whole or from a Range's first byte, and the
# serving loop on a free loopback port.
import hashlib
import http.server
import sys


def tree_entry(path, rel, lfs):
    """The Hub's listing entry for the file at path, named rel: size, git blob id and, when lfs,
    the LFS pointer's sha256."""
    data = open(path, "rb").read()
    e = {"type": "file", "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
         "size": len(data), "path": rel}
    if lfs:
        e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return e


def send_ranged(handler, data):
    """Answers handler's request with data: 200 whole, 206 from a "bytes=N-" Range's first byte,
    416 when that byte is past the end."""
    start = 0
    rng = handler.headers.get("Range")
    if rng and rng.startswith("bytes="):
        start = int(rng[6:].split("-")[0])
        if start >= len(data):
            return handler.send_error(416)
        handler.send_response(206)
        handler.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
    else:
        handler.send_response(200)
    handler.send_header("Content-Length", str(len(data) - start))
    handler.end_headers()
    handler.wfile.write(data[start:])


def serve(handler):
    """Serves handler on a free 127.0.0.1 port, written first to the file named by the script's
    last argument (tests/lib/hub.sh waits for it)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    open(sys.argv[-1], "w").write(str(srv.server_address[1]))
    srv.serve_forever()
