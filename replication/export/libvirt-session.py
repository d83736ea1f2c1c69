"""One long-lived libvirt connection for a site worker's export (libvirt-session.ts starts it).

A virsh process per question costs 10-14 ms here (process start, connect, authenticate); a call
on an open connection well under one. Requests and answers are JSON, one per line:
  -> {"id": 1, "op": "state", "domain": "db-1"}
  <- {"id": 1, "ok": true, "result": "shut off"}
  <- {"id": 1, "ok": false, "code": 42, "message": "Domain not found: ..."}
`code` is libvirt's error number (0 for an error that is not libvirt's). The connection is
opened on the first request and again after libvirt closed it (its daemon restarted). The
process ends when its standard input does.
"""

import json
import sys

import libvirt

# virsh's words for each state, so callers read the same answers from either.
STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "idle",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "in shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}

# Errors after which the connection is not to be used again.
CONNECTION_LOST = {
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
}


def quiet(_ctx, _err):
    """libvirt prints every error to stderr by default; each is answered instead."""


class Session:
    def __init__(self, uri):
        self.uri = uri
        self.conn = None

    def connection(self):
        if self.conn is not None and self.conn.isAlive() != 1:
            self.drop()
        if self.conn is None:
            self.conn = libvirt.open(self.uri)
        return self.conn

    def drop(self):
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass

    def domain(self, req):
        return self.connection().lookupByName(req["domain"])

    def run(self, req):
        op = req["op"]
        if op == "state":
            return STATES.get(self.domain(req).state()[0], "unknown")
        if op == "xml":
            flags = libvirt.VIR_DOMAIN_XML_INACTIVE if req.get("inactive") else 0
            return self.domain(req).XMLDesc(flags)
        if op == "checkpoints":
            # virsh checkpoint-list --name sorts by name, ignoring case; so do we.
            return sorted((c.getName() for c in self.domain(req).listAllCheckpoints()), key=str.lower)
        if op == "checkpoint-xml":
            flags = libvirt.VIR_DOMAIN_CHECKPOINT_XML_SIZE if req.get("size") else 0
            return self.domain(req).checkpointLookupByName(req["name"]).getXMLDesc(flags)
        if op == "checkpoint-redefine":
            self.domain(req).checkpointCreateXML(req["xml"], libvirt.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE)
            return None
        if op == "checkpoint-delete":
            flags = libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY if req.get("metadataOnly") else 0
            self.domain(req).checkpointLookupByName(req["name"]).delete(flags)
            return None
        raise ValueError(f"unknown operation {op!r}")


def main():
    libvirt.registerErrorHandler(quiet, None)
    session = Session(sys.argv[1])
    for line in sys.stdin:
        req = json.loads(line)
        try:
            answer = {"id": req["id"], "ok": True, "result": session.run(req)}
        except libvirt.libvirtError as e:
            code = e.get_error_code() or 0
            if code in CONNECTION_LOST:
                session.drop()
            answer = {"id": req["id"], "ok": False, "code": code, "message": str(e)}
        except Exception as e:  # a bad request: said, and the session goes on
            answer = {"id": req["id"], "ok": False, "code": 0, "message": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
