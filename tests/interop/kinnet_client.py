#!/usr/bin/python3
"""Independent Kinnet interop client and conformance checks.

Written from docs/protocol.md and proto/kinnet/v1/*.proto only. It speaks the
MDP/0.1 client protocol over a CURVE-secured ZeroMQ DEALER socket to the broker
frontend, with Lazy Pirate retries (new socket, same bytes) for every call.

Environment:
  KINNET_ENDPOINT        broker frontend, e.g. tcp://127.0.0.1:5555, or a
                         comma-separated list of redundant brokers' (§6.2)
  KINNET_SERVER_KEY      broker public key, Z85 (40 chars) or a certificate path
  KINNET_CERT            agency A secret certificate (CZMQ zcert / ZPL)
  KINNET_OTHER_CERT      agency B secret certificate
  KINNET_STRANGER_CERT   secret certificate whose key is not registered
  KINNET_PROTO_DIR       directory holding kinnet/v1/*.proto
  KINNET_AGENCY_ID       agency A's id (the operator hands it out with the
                         certificate, §2.3)
  KINNET_OTHER_AGENCY_ID agency B's id; B is a health agency in district north that
                         the directory lists for LANGUAGE_SUPPORT (routing, §13)

Prints one line per check ("PASS name: detail" / "FAIL name: detail"), then
"N passed, M failed". Exits 0 only if nothing failed. Only invented test names
are ever sent; no personal data is printed.

Run with Debian's /usr/bin/python3 (python3-zmq, python3-protobuf) and protoc.
"""

import atexit
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

import zmq
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

MDPC = b"MDPC01"                      # §3.1 frame 1
MMI_STATUSES = (b"200", b"404", b"501")  # §3.4
DEFAULT_TIMEOUT_MS = 5000             # §6.1: longer than the broker's 2500 ms queue wait
DEFAULT_RETRIES = 2                   # §6.1: 3 attempts in all
MAX_MSG_SIZE = 1024 * 1024            # §2.6 (optional)


# --------------------------------------------------------------------------
# Protobuf modules, generated at start-up (Appendix A / §9.5)
# --------------------------------------------------------------------------

def load_proto_modules():
    proto_dir = os.environ.get("KINNET_PROTO_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
    files = sorted(glob.glob(os.path.join(proto_dir, "kinnet", "v1", "*.proto")))
    if not files:
        raise SystemExit(f"no .proto files under {proto_dir}/kinnet/v1")
    out = tempfile.mkdtemp(prefix="kinnet-pb-")
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(["protoc", f"--python_out={out}", "-I", proto_dir, *files],
                   check=True)
    for pkg in ("kinnet", os.path.join("kinnet", "v1")):
        open(os.path.join(out, pkg, "__init__.py"), "a").close()
    sys.path.insert(0, out)
    from kinnet.v1 import common_pb2, consent_pb2, intake_pb2, routing_pb2  # noqa: E402
    return common_pb2, intake_pb2, consent_pb2, routing_pb2


common_pb2, intake_pb2, consent_pb2, routing_pb2 = load_proto_modules()
ErrorCode = common_pb2.ErrorCode


# --------------------------------------------------------------------------
# Certificates (§2.2: CZMQ zcert files in ZPL)
# --------------------------------------------------------------------------

def _zpl_value(raw):
    """Value part of a ZPL `name = value` line: quoted ("..." or '...') or bare."""
    raw = raw.strip()
    if raw[:1] in ('"', "'"):
        end = raw.find(raw[0], 1)
        if end < 0:
            raise ValueError("unterminated quoted value")
        return raw[1:end]
    # bare value: up to whitespace or a comment
    return raw.split()[0] if raw.split() else ""


def load_cert(path):
    """Return (public, secret) Z85 keys as bytes from the `curve` section.

    Sections start in column 0; properties are indented (4 spaces per level).
    Only `curve/public-key` and `curve/secret-key` are used; `metadata` is ignored.
    """
    section = None
    keys = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not line[0].isspace():
                section = stripped.split("=", 1)[0].strip()
                continue
            if section != "curve" or "=" not in stripped:
                continue
            name, value = stripped.split("=", 1)
            name = name.strip()
            if name in ("public-key", "secret-key"):
                keys[name] = _zpl_value(value)
    for name in ("public-key", "secret-key"):
        v = keys.get(name)
        if v is None:
            raise ValueError(f"{path}: no curve/{name}")
        if len(v) != 40 or len(z85.decode(v.encode("ascii"))) != 32:
            raise ValueError(f"{path}: curve/{name} is not a 40-character Z85 key")
    return keys["public-key"].encode("ascii"), keys["secret-key"].encode("ascii")


def load_cert_agency_id(path):
    """§2.2: the informational `metadata/agency_id` of a certificate, or ""."""
    section = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if not line[0].isspace():
                section = s.split("=", 1)[0].strip()
            elif section == "metadata" and "=" in s \
                    and s.split("=", 1)[0].strip() == "agency_id":
                return _zpl_value(s.split("=", 1)[1])
    return ""


def load_server_key(value):
    """§2.1: exactly 40 characters is the key itself, anything else a cert path."""
    if len(value) == 40:
        return value.encode("ascii")
    section, key = None, None
    with open(value, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if not line[0].isspace():
                section = s
            elif section == "curve" and s.split("=", 1)[0].strip() == "public-key":
                key = _zpl_value(s.split("=", 1)[1])
    if not key:
        raise ValueError("no curve/public-key in server certificate")
    return key.encode("ascii")


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------

class KinnetError(Exception):
    def __init__(self, code, message, field=""):
        name = ErrorCode.Name(code) if isinstance(code, int) and code in ErrorCode.values() \
            else str(code)
        super().__init__(f"{name}: {message}" + (f" (field {field!r})" if field else ""))
        self.code, self.name, self.message, self.field = code, name, message, field


class NoReply(KinnetError):
    """Every attempt timed out: outcome unknown (§6.2 step 8)."""

    def __init__(self, attempts):
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE,
                         f"no reply after {attempts} attempts; outcome unknown")


class Unauthenticated(KinnetError):
    """The monitor reported ZMQ_EVENT_HANDSHAKE_FAILED_AUTH (§2.5)."""

    def __init__(self, status):
        super().__init__(ErrorCode.UNAUTHENTICATED,
                         f"broker refused this certificate (ZAP status {status})")
        self.status = status


def decode_error_first(body):
    """§4.4 rule 2: parse any reply as ErrorReply first. Returns Error or None."""
    er = common_pb2.ErrorReply.FromString(body)
    if er.HasField("error") and er.error.code != 0:
        return er.error
    return None


class KinnetClient:
    def __init__(self, ctx, endpoint, cert_path, server_key,
                 timeout_ms=DEFAULT_TIMEOUT_MS, retries=DEFAULT_RETRIES):
        self.ctx = ctx
        # §6.2 "The list": comma-separated, each tcp:// or ipc://, at most 8.
        self.endpoints = endpoint.split(",")
        if len(self.endpoints) > 8 or not all(
                re.fullmatch(r"(tcp|ipc)://[^\s,]+", e) for e in self.endpoints):
            raise ValueError(f"bad endpoint list {endpoint!r}")
        self.current = 0                      # §6.2 step 2: the one that answered last
        self.public, self.secret = load_cert(cert_path)
        self.server_key = server_key
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.sockets_opened = 0
        self.last_attempts = 0
        self.last_raw = None
        self.feed_unavailable = []            # SERVICE_UNAVAILABLE answers to feed reads

    def _open(self, events=zmq.EVENT_HANDSHAKE_FAILED_AUTH):
        """§2.6 options; §6.2 step 2: monitor, then connect."""
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MSG_SIZE)
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_serverkey = self.server_key
        monitor = sock.get_monitor_socket(events)
        sock.connect(self.endpoints[self.current])   # §6.2 step 3: this broker only
        self.sockets_opened += 1
        return sock, monitor

    @staticmethod
    def _close(sock, monitor):
        try:
            sock.disable_monitor()
        except zmq.ZMQError:
            pass
        monitor.close(linger=0)
        sock.close(linger=0)

    def _next(self, refused):
        """§6.2 step 8: the next broker of the list that has not refused (round robin)."""
        for step in range(1, len(self.endpoints) + 1):
            candidate = (self.current + step) % len(self.endpoints)
            if candidate not in refused:
                self.current = candidate
                return

    def call(self, service, body, timeouts=None, body_frames=None):
        """One MDP request with Lazy Pirate retries over the broker list (§6.2).

        `body` is sent unchanged on every attempt on a brand-new socket.
        `timeouts` optionally gives the per-attempt wait in ms for each attempt
        that goes unanswered (a refusal uses none).
        Returns the reply body frame (bytes).
        """
        name = service.encode("ascii") if isinstance(service, str) else service
        frames = [b"", MDPC, name] + (list(body_frames) if body_frames is not None
                                      else [body])
        if timeouts is None:
            timeouts = [self.timeout_ms] * (self.retries + 1)
        self.last_attempts = 0
        refused = set()
        silences = 0
        while silences < len(timeouts):
            t_ms = timeouts[silences]
            self.last_attempts += 1
            refusal = None
            sock, monitor = self._open()
            try:
                sock.send_multipart(frames)
                poller = zmq.Poller()
                poller.register(sock, zmq.POLLIN)
                poller.register(monitor, zmq.POLLIN)
                deadline = time.monotonic() + t_ms / 1000.0
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    ready = dict(poller.poll(max(1, int(left * 1000))))
                    if monitor in ready:
                        ev = recv_monitor_message(monitor)
                        # §2.5: 300 is "try again later", not a refusal
                        if (ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                and ev["value"] != 300):
                            refusal = ev["value"]
                            break
                    if sock in ready:
                        reply = sock.recv_multipart()
                        # §3.2: accept only ["", "MDPC01", service, body...]
                        if (len(reply) >= 4 and reply[0] == b"" and reply[1] == MDPC
                                and reply[2] == name):
                            self.last_raw = reply[3]
                            return reply[3]
                        # anything else: discard and keep waiting
            finally:
                self._close(sock, monitor)
            if refusal is not None:
                # §6.2 step 7: on to the next broker at once; stop when all refused
                refused.add(self.current)
                if len(refused) == len(self.endpoints):
                    raise Unauthenticated(refusal)
            else:
                silences += 1
            self._next(refused)
        raise NoReply(self.last_attempts)

    # ---- services -------------------------------------------------------

    def mmi_service(self, service):
        body = self.call("mmi.service", service.encode("utf-8"))
        if body in MMI_STATUSES:                       # §3.4: compare first
            return body.decode("ascii")
        err = decode_error_first(body)
        if err is not None:
            raise KinnetError(err.code, err.message, err.field)
        raise KinnetError("UNEXPECTED", f"unexpected MMI reply {body[:16]!r}")

    def intake_raw(self, body, timeouts=None):
        """Send pre-serialised IntakeRequest bytes; return the IntakeReply."""
        raw = self.call("intake", body, timeouts=timeouts)
        err = decode_error_first(raw)                  # §4.4 rule 2
        if err is not None:
            raise KinnetError(err.code, err.message, err.field)
        return intake_pb2.IntakeReply.FromString(raw)

    def intake(self, request, timeouts=None):
        return self.intake_raw(request.SerializeToString(), timeouts)  # serialise once

    def submit(self, submit_msg, timeouts=None):
        req = intake_pb2.IntakeRequest()
        req.submit.CopyFrom(submit_msg)
        return self.intake(req, timeouts).submitted

    def consent_raw(self, body):
        """Send pre-serialised ConsentRequest bytes; return the ConsentReply (§12)."""
        raw = self.call("consent", body)
        err = decode_error_first(raw)                  # §4.4 rule 2
        if err is not None:
            raise KinnetError(err.code, err.message, err.field)
        return consent_pb2.ConsentReply.FromString(raw)

    def consent(self, request):
        return self.consent_raw(request.SerializeToString())

    # ---- routing and feed (§13) -------------------------------------------

    def routing_raw(self, body):
        """Send pre-serialised RoutingRequest bytes; return the RoutingReply."""
        raw = self.call("routing", body)
        err = decode_error_first(raw)                  # §4.4 rule 2
        if err is not None:
            raise KinnetError(err.code, err.message, err.field)
        return routing_pb2.RoutingReply.FromString(raw)

    def routing(self, request):
        return self.routing_raw(request.SerializeToString())   # serialise once (§13.12)

    def feed(self, after=0, max_events=0, wait_ms=0, request=None):
        """One FeedRead (§13.13). The per-attempt timeout exceeds wait_ms."""
        if request is None:
            request = routing_pb2.FeedRequest()
            request.read.after = after
            request.read.max = max_events
            request.read.wait_ms = wait_ms
        per_attempt = max(self.timeout_ms, request.read.wait_ms + DEFAULT_TIMEOUT_MS)
        body = request.SerializeToString()
        for attempt in range(5):
            raw = self.call("feed", body, timeouts=[per_attempt] * (self.retries + 1))
            err = decode_error_first(raw)
            # §13.13: a read writes nothing; after SERVICE_UNAVAILABLE read again.
            if err is None or err.code != ErrorCode.SERVICE_UNAVAILABLE or attempt == 4:
                break
            self.feed_unavailable.append(err.message)
        if err is not None:
            raise KinnetError(err.code, err.message, err.field)
        reply = routing_pb2.FeedReply.FromString(raw)
        if reply.WhichOneof("result") != "batch":
            raise KinnetError("UNEXPECTED", f"result {reply.WhichOneof('result')}")
        return reply.batch

    def get(self, referral_id, caseworker_id=""):
        req = intake_pb2.IntakeRequest()
        req.get.referral_id = referral_id
        if caseworker_id:
            req.get.caseworker_id = caseworker_id
        reply = self.intake(req)
        if reply.WhichOneof("result") != "referral":
            raise KinnetError("UNEXPECTED", f"result {reply.WhichOneof('result')}")
        return reply.referral


# --------------------------------------------------------------------------
# Check harness
# --------------------------------------------------------------------------

RESULTS = []


def run_check(name, fn):
    try:
        detail = fn()
        RESULTS.append(True)
        print(f"PASS {name}: {detail or 'ok'}", flush=True)
    except Exception as e:  # noqa: BLE001 - every check must be independent
        RESULTS.append(False)
        msg = f"{type(e).__name__}: {e}"
        tb = traceback.extract_tb(e.__traceback__)
        if tb:
            msg += f" [line {tb[-1].lineno}]"
        print(f"FAIL {name}: {msg}", flush=True)


def note(text):
    print(f"NOTE {text}", flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(fn, code, field, message=None):
    """Run fn, expect a KinnetError with code/field. Returns the error."""
    try:
        got = fn()
    except NoReply:
        raise
    except Unauthenticated:
        raise
    except KinnetError as e:
        expect(e.code == code,
               f"expected {ErrorCode.Name(code)}, got {e.name} (field {e.field!r})")
        expect(e.field == field, f"expected field {field!r}, got {e.field!r}")
        if message is not None and e.message != message:
            note(f"documented message {message!r} differs from {e.message!r}")
        return e
    raise AssertionError(f"expected {ErrorCode.Name(code)}, got success: {got!r:.80}")


def is_uuid(s):
    try:
        return str(uuid.UUID(s)) == s and len(s) == 36
    except (ValueError, TypeError):
        return False


# --------------------------------------------------------------------------
# Test data (invented names only)
# --------------------------------------------------------------------------

RUN = uuid.uuid4().hex
TAG = RUN[:8]


def key(label):
    return f"iop-{RUN}-{label}"


def make_submit(idem_key, given="Testa"):
    s = intake_pb2.SubmitReferral()
    s.idempotency_key = idem_key
    s.child.given_name = given
    s.child.family_name = f"Interop{TAG}"
    s.child.date_of_birth = "2015-06-01"
    s.child.languages.extend(["en", "pt-BR"])
    sib = s.siblings.add()
    sib.given_name = "Testo"
    sib.family_name = f"Interop{TAG}"
    sib.date_of_birth = "2018-09-12"
    sib.languages.append("en")
    g = s.guardians.add()
    g.given_name = "Testina"
    g.family_name = f"Interop{TAG}"
    g.relationship = common_pb2.MOTHER
    g.parental_responsibility = True
    g.phone = "+44 7700 900000"
    g.languages.append("en")
    s.needs.add(category=common_pb2.LANGUAGE_SUPPORT,
                description="Interop test: needs language support in class.")
    s.needs.add(category=common_pb2.HOUSING_NEED,
                description="Interop test: temporary accommodation.\nSecond line.")
    s.urgency = common_pb2.PRIORITY
    s.district = "north"
    # A statutory basis: a consent-based referral needs a recorded consent (§4.5).
    s.lawful_ground.basis = common_pb2.PUBLIC_TASK
    s.lawful_ground.justification = "Interop test: early help assessment."
    s.caseworker_id = "interop-cw-1"
    return s


def submit_request_bytes(s):
    req = intake_pb2.IntakeRequest()
    req.submit.CopyFrom(s)
    return req.SerializeToString()


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main():
    try:
        endpoint = os.environ["KINNET_ENDPOINT"]
        server_key = load_server_key(os.environ["KINNET_SERVER_KEY"])
        ctx = zmq.Context()
        A = KinnetClient(ctx, endpoint, os.environ["KINNET_CERT"], server_key)
        B = KinnetClient(ctx, endpoint, os.environ["KINNET_OTHER_CERT"], server_key)
        S = KinnetClient(ctx, endpoint, os.environ["KINNET_STRANGER_CERT"], server_key)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL setup: {type(e).__name__}: {e}", flush=True)
        print("0 passed, 1 failed", flush=True)
        return 1
    st = {}

    # ---- 0. offline: encoder agrees with the worked example (§9.1) --------
    def c0():
        req = intake_pb2.IntakeRequest()
        s = req.submit
        s.idempotency_key = "AG-2026-0001"
        s.child.given_name, s.child.family_name = "Ana", "Silva"
        s.child.date_of_birth = "2017-03-14"
        s.child.languages.append("pt")
        s.needs.add(category=common_pb2.LANGUAGE_SUPPORT,
                    description="Needs English support.")
        s.urgency = common_pb2.ROUTINE
        s.district = "north"
        s.lawful_ground.basis = common_pb2.CONSENT
        s.lawful_ground.consent_reference = "C-17"
        b = req.SerializeToString()
        want = ("125b0a0c41472d323032362d30303031121c0a03416e61120553696c76611a0a323031"
                "372d30332d3134220270742a1a080312164e6565647320456e676c69736820737570"
                "706f72742e30013a056e6f727468420808011204432d3137")
        expect(len(b) == 93, f"length {len(b)} != 93")
        expect(b.hex() == want, "bytes differ from §9.1")
        # §9.3 / §9.4 sample replies decode as documented
        r = bytes.fromhex(
            "12590a2430363164643631312d626139642d346135392d393734312d39653634323834"
            "6634643435122464336562303039302d353339352d343839392d613835632d35383261"
            "62373139356335302a0b08b5c98dd80610c0ee834d")
        expect(decode_error_first(r) is None, "§9.3 reply decodes as an error")
        ir = intake_pb2.IntakeReply.FromString(r)
        expect(ir.submitted.received_at.seconds == 1795384501
               and ir.submitted.received_at.nanos == 161544000, "§9.3 timestamp")
        return "93 bytes identical to §9.1; §9.3 reply decodes as documented"
    run_check("0 worked-example encoding (§9.1/§9.3)", c0)

    # ---- 1. MMI -------------------------------------------------------------
    def c1():
        a = A.mmi_service("intake")
        expect(a == "200", f"mmi.service intake -> {a}")
        made_up = f"nosuch-{TAG}"
        b = A.mmi_service(made_up)
        expect(b == "404", f"mmi.service {made_up} -> {b}")
        return "intake=200, made-up=404"
    run_check("1 mmi.service", c1)

    # ---- 2. submit ------------------------------------------------------------
    sub = make_submit(key("submit"), given=f"Testa{TAG[:4]}")
    sub_bytes = submit_request_bytes(sub)
    st["given"] = sub.child.given_name

    def c2():
        reply = A.intake_raw(sub_bytes)
        st["raw_success"] = A.last_raw
        expect(reply.WhichOneof("result") == "submitted",
               f"result is {reply.WhichOneof('result')}")
        expect(not reply.HasField("error"), "error set on success")
        r = reply.submitted
        expect(is_uuid(r.referral_id), f"referral_id {r.referral_id!r} not a UUID")
        # A first referral by an agency without standing with the family names no
        # family and no subjects, whether the family was known or not (§4.5).
        expect(r.family_id == "" and not r.family_matched and not r.subject_ids,
               f"family {r.family_id!r} / matched / subject ids shown on a first referral")
        expect(r.replayed is False, "replayed is true on first submit")
        expect(r.received_at.seconds > 0, "received_at missing")
        expect(r.received_at.nanos % 1000 == 0, "nanos not a multiple of 1000 (§4.1)")
        st["referral_id"], st["family_id"] = r.referral_id, r.family_id
        st["received_at"] = (r.received_at.seconds, r.received_at.nanos)
        return f"referral_id={r.referral_id} replayed=false"
    run_check("2 submit valid referral", c2)

    # ---- 3. replay ------------------------------------------------------------
    def c3():
        expect("referral_id" in st, "no referral from check 2")
        r = A.intake_raw(sub_bytes).submitted
        expect(r.referral_id == st["referral_id"],
               f"referral_id {r.referral_id} != {st['referral_id']}")
        expect(r.replayed is True, "replayed is false")
        expect(r.family_id == st["family_id"], "family_id changed on replay")
        expect((r.received_at.seconds, r.received_at.nanos) == st["received_at"],
               "received_at changed on replay")
        return "same referral_id, replayed=true"
    run_check("3 identical request replays", c3)

    # ---- 4. conflict ------------------------------------------------------------
    def c4():
        other = make_submit(key("submit"), given=sub.child.given_name)
        other.needs[0].description = "Interop test: different content."
        e = expect_error(lambda: A.submit(other), ErrorCode.CONFLICT, "idempotency_key")
        st["raw_error"] = A.last_raw
        return f"{e.name} field={e.field}"
    run_check("4 same key, different content -> CONFLICT", c4)

    # ---- 5. validation ------------------------------------------------------------
    def c5a():
        s = make_submit(key("v-date"))
        s.child.date_of_birth = "2019-02-30"
        e = expect_error(lambda: A.submit(s), ErrorCode.INVALID_ARGUMENT,
                         "child.date_of_birth",
                         "child.date_of_birth must be a real date as YYYY-MM-DD")
        return f"{e.name} field={e.field}"
    run_check("5a impossible date -> child.date_of_birth", c5a)

    def c5b():
        s = make_submit(key("v-noneeds"))
        del s.needs[:]
        e = expect_error(lambda: A.submit(s), ErrorCode.INVALID_ARGUMENT, "needs",
                         "at least one need is required")
        return f"{e.name} field={e.field}"
    run_check("5b no needs -> needs", c5b)

    def c5c():
        s = make_submit(key("v-enum"))
        s.needs[0].category = 999        # proto3 enums are open: 999 goes on the wire
        b = submit_request_bytes(s)
        expect(b"\x08\xe7\x07" in b, "999 not encoded")
        try:
            A.intake_raw(b)
        except KinnetError as e:
            expect(e.code == ErrorCode.INVALID_ARGUMENT, f"got {e.name}")
            expect(e.field == "needs[0].category", f"field {e.field!r}")
            want = "needs[0].category: unknown value 999"
            if e.message != want:
                note(f"documented message {want!r} differs from {e.message!r}")
            return f"{e.name} field={e.field}"
        raise AssertionError("accepted an unknown NeedCategory")
    run_check("5c unknown NeedCategory 999 -> needs[0].category", c5c)

    def c5d():
        s = make_submit(key("v-sib"))
        sib = s.siblings.add()
        sib.given_name, sib.family_name = "Testi", f"Interop{TAG}"
        sib.date_of_birth = "2019-02-30"
        e = expect_error(lambda: A.submit(s), ErrorCode.INVALID_ARGUMENT,
                         "siblings[1].date_of_birth",
                         "siblings[1].date_of_birth must be a real date as YYYY-MM-DD")
        return f"{e.name} field={e.field}"
    run_check("5d second sibling bad date -> siblings[1].date_of_birth", c5d)

    def c5e():
        s = make_submit(key("v-just"))
        s.lawful_ground.Clear()
        s.lawful_ground.basis = common_pb2.PUBLIC_TASK
        s.lawful_ground.justification = "too short"       # 9 bytes < 10
        e = expect_error(lambda: A.submit(s), ErrorCode.INVALID_ARGUMENT,
                         "lawful_ground.justification",
                         "lawful_ground.justification must be at least 10 bytes")
        return f"{e.name} field={e.field}"
    run_check("5e short justification -> lawful_ground.justification", c5e)

    # ---- 6. malformed body ------------------------------------------------------
    def c6():
        # Field 2 (submit), wire type LEN, length 127, but only 12 bytes follow:
        # truncated, so no protobuf decoder can accept it.
        bad = b"\x12\x7f" + os.urandom(12)
        try:
            intake_pb2.IntakeRequest.FromString(bad)
            decodes = True
        except Exception:  # google.protobuf.message.DecodeError
            decodes = False
        expect(not decodes, "test body unexpectedly decodes locally")
        e = expect_error(lambda: A.intake_raw(bad), ErrorCode.MALFORMED, "")
        s = make_submit(key("after-malformed"), given=f"Testu{TAG[:4]}")
        r = A.submit(s)
        expect(is_uuid(r.referral_id) and not r.replayed, "follow-up submit failed")
        return f"{e.name} field=''; follow-up submit ok"
    run_check("6 malformed body -> MALFORMED, service still answers", c6)

    # ---- 7. get -------------------------------------------------------------------
    def c7():
        expect("referral_id" in st, "no referral from check 2")
        ref = A.get(st["referral_id"], caseworker_id="interop-cw-2")
        expect(ref.referral_id == st["referral_id"], "referral_id differs")
        expect(ref.status == intake_pb2.RECEIVED,
               f"status {intake_pb2.ReferralStatus.Name(ref.status)}")
        expect(ref.submitted.child.given_name == st["given"], "given_name differs")
        expect(ref.submitted.idempotency_key == sub.idempotency_key,
               "idempotency_key differs")
        expect(ref.submitted.caseworker_id == sub.caseworker_id,
               "caseworker_id of the first request not returned (§4.6)")
        expect(is_uuid(ref.referring_agency_id), "referring_agency_id not a UUID")
        expect(ref.family_id == st["family_id"], "family_id differs")
        expect(not ref.HasField("withdrawn_at"), "withdrawn_at set while RECEIVED")
        expect(ref.submitted == sub, "submitted differs from what was sent")
        return "status RECEIVED, given_name matches, submitted == sent"
    run_check("7 get referral", c7)

    # ---- 8. other agency ---------------------------------------------------------
    def c8():
        expect("referral_id" in st, "no referral from check 2")
        e = expect_error(lambda: B.get(st["referral_id"]), ErrorCode.PERMISSION_DENIED,
                         "referral_id")
        return f"{e.name} field={e.field}: {e.message}"
    run_check("8 agency B (no ground) get -> PERMISSION_DENIED", c8)

    # ---- 9. withdraw ---------------------------------------------------------------
    wreq = intake_pb2.IntakeRequest()
    wreq.withdraw.idempotency_key = key("withdraw")
    wreq.withdraw.referral_id = st.get("referral_id", "")
    wreq.withdraw.reason = "Interop test: family moved out of the area."
    wreq.withdraw.caseworker_id = "interop-cw-1"
    wbytes = wreq.SerializeToString()

    def c9a():
        expect("referral_id" in st, "no referral from check 2")
        reply = A.intake_raw(wbytes)
        expect(reply.WhichOneof("result") == "withdrawn",
               f"result {reply.WhichOneof('result')}")
        w = reply.withdrawn
        expect(w.referral_id == st["referral_id"], "referral_id differs")
        expect(w.status == intake_pb2.WITHDRAWN,
               f"status {intake_pb2.ReferralStatus.Name(w.status)}")
        expect(w.replayed is False, "replayed true on first withdraw")
        expect(w.withdrawn_at.seconds > 0, "withdrawn_at missing")
        st["withdrawn_at"] = (w.withdrawn_at.seconds, w.withdrawn_at.nanos)
        return "status WITHDRAWN, replayed=false"
    run_check("9a withdraw", c9a)

    def c9b():
        expect("withdrawn_at" in st, "withdraw did not succeed")
        w = A.intake_raw(wbytes).withdrawn
        expect(w.replayed is True, "replayed is false")
        expect(w.status == intake_pb2.WITHDRAWN, "status not WITHDRAWN")
        expect((w.withdrawn_at.seconds, w.withdrawn_at.nanos) == st["withdrawn_at"],
               "withdrawn_at differs on replay")
        return "replayed=true, same withdrawn_at"
    run_check("9b same withdraw again replays", c9b)

    def c9c():
        expect("withdrawn_at" in st, "withdraw did not succeed")
        ref = A.get(st["referral_id"])
        expect(ref.status == intake_pb2.WITHDRAWN,
               f"status {intake_pb2.ReferralStatus.Name(ref.status)}")
        expect(ref.withdraw_reason == wreq.withdraw.reason, "withdraw_reason differs")
        expect((ref.withdrawn_at.seconds, ref.withdrawn_at.nanos) == st["withdrawn_at"],
               "withdrawn_at differs")
        return "status WITHDRAWN, reason and time match"
    run_check("9c get shows WITHDRAWN", c9c)

    def c9d():
        expect("withdrawn_at" in st, "withdraw did not succeed")
        w2 = intake_pb2.IntakeRequest()
        w2.withdraw.CopyFrom(wreq.withdraw)
        w2.withdraw.idempotency_key = key("withdraw-2")
        e = expect_error(lambda: A.intake(w2), ErrorCode.CONFLICT, "referral_id",
                         "referral is already withdrawn")
        return f"{e.name} field={e.field}"
    run_check("9d withdraw again with a new key -> CONFLICT", c9d)

    # ---- 10. stranger -----------------------------------------------------------
    def c10():
        # One raw attempt: wait the full 1500 ms and record what the monitor saw.
        sock, mon = S._open(zmq.EVENT_ALL)
        events, replies = [], []
        try:
            sock.send_multipart([b"", MDPC, b"mmi.service", b"intake"])
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(mon, zmq.POLLIN)
            deadline = time.monotonic() + 1.5
            while (left := deadline - time.monotonic()) > 0:
                ready = dict(poller.poll(max(1, int(left * 1000))))
                if mon in ready:
                    ev = recv_monitor_message(mon)
                    events.append((ev["event"], ev["value"]))
                if sock in ready:
                    replies.append(sock.recv_multipart())
        finally:
            S._close(sock, mon)
        st["stranger_events"] = events
        expect(not replies, f"stranger got {len(replies)} repl(y/ies)")
        return "no reply within 1500 ms"
    run_check("10a stranger gets no reply", c10)

    def c10b():
        events = st.get("stranger_events")
        expect(events is not None, "check 10a did not run")
        auth = [v for (e, v) in events if e == zmq.EVENT_HANDSHAKE_FAILED_AUTH]
        ok = [1 for (e, _) in events if e == zmq.EVENT_HANDSHAKE_SUCCEEDED]
        disc = [1 for (e, _) in events if e == zmq.EVENT_DISCONNECTED]
        expect(auth, f"no HANDSHAKE_FAILED_AUTH; events {sorted({e for e, _ in events})}")
        expect(auth[0] == 400, f"FAILED_AUTH value {auth[0]} != 400")
        expect(not ok, "HANDSHAKE_SUCCEEDED reported for stranger")
        expect(disc, "no DISCONNECTED after the refused handshake")
        return f"HANDSHAKE_FAILED_AUTH x{len(auth)} (value 400), then DISCONNECTED"
    run_check("10b stranger handshake refused (monitor)", c10b)

    def c10c():
        t0 = time.monotonic()
        try:
            S.mmi_service("intake")
        except Unauthenticated:
            dt = time.monotonic() - t0
            expect(S.last_attempts == 1, f"{S.last_attempts} attempts")
            expect(dt < 1.5, f"took {dt:.2f} s")
            return f"UNAUTHENTICATED after {dt * 1000:.0f} ms, 1 attempt"
        raise AssertionError("stranger was not refused")
    run_check("10c client reports UNAUTHENTICATED without waiting out retries", c10c)

    def c10d():
        # Control: agency A's socket sees HANDSHAKE_SUCCEEDED (§2.5 first row).
        sock, mon = A._open(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        try:
            if not mon.poll(3000):
                raise AssertionError("no handshake event within 3 s")
            ev = recv_monitor_message(mon)
            expect(ev["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED, f"event {ev['event']:#x}")
        finally:
            A._close(sock, mon)
        return "HANDSHAKE_SUCCEEDED"
    run_check("10d registered agency handshake succeeds (monitor)", c10d)

    # ---- 11. ErrorReply-first decoding ----------------------------------------------
    def c11():
        ok = st.get("raw_success")
        bad = st.get("raw_error")
        expect(ok is not None and bad is not None, "raw replies from checks 2/4 missing")
        er = common_pb2.ErrorReply.FromString(ok)
        expect(not er.HasField("error"), "success reply decodes with an error")
        ir = intake_pb2.IntakeReply.FromString(ok)
        expect(ir.submitted.referral_id == st["referral_id"], "second parse lost result")
        er = common_pb2.ErrorReply.FromString(bad)
        expect(er.HasField("error") and er.error.code == ErrorCode.CONFLICT,
               "error reply does not decode as ErrorReply CONFLICT")
        expect(er.error.field == "idempotency_key", f"field {er.error.field!r}")
        ir = intake_pb2.IntakeReply.FromString(bad)
        expect(ir.WhichOneof("result") is None, "error reply carries a result")
        # broker-made error: service name over 64 bytes -> UNKNOWN_SERVICE (§3.3)
        raw = A.call("x" * 65, b"")
        er = common_pb2.ErrorReply.FromString(raw)
        expect(er.error.code == ErrorCode.UNKNOWN_SERVICE,
               f"long service name -> {ErrorCode.Name(er.error.code)}")
        expect(er.error.field == "service", f"field {er.error.field!r}")
        # MMI without a body frame -> protobuf ErrorReply MALFORMED (§3.4)
        raw = A.call("mmi.service", None, body_frames=[])
        expect(raw not in MMI_STATUSES, f"MMI without body answered {raw!r}")
        err = decode_error_first(raw)
        expect(err is not None and err.code == ErrorCode.MALFORMED
               and err.field == "service",
               f"MMI without body -> {err}")
        return "success, intake error, broker UNKNOWN_SERVICE and MMI MALFORMED all decode"
    run_check("11 decode ErrorReply first", c11)

    # ---- 12. Lazy Pirate ---------------------------------------------------------
    def c12():
        s = make_submit(key("lazy"), given=f"Testy{TAG[:4]}")
        b = submit_request_bytes(s)
        opened = A.sockets_opened
        # First attempt abandoned after 1 ms (it may or may not reach the service),
        # then retries on new sockets with the same bytes.
        r1 = A.intake_raw(b, timeouts=[1, DEFAULT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS])
        attempts = A.last_attempts
        new_sockets = A.sockets_opened - opened
        expect(attempts >= 2, f"only {attempts} attempt(s); retry not exercised")
        expect(new_sockets == attempts, f"{new_sockets} sockets for {attempts} attempts")
        r1 = r1.submitted
        expect(is_uuid(r1.referral_id), "no referral_id")
        r2 = A.intake_raw(b).submitted
        expect(r2.referral_id == r1.referral_id and r2.replayed,
               "resend did not replay the same referral")
        first = "committed by the abandoned attempt" if r1.replayed else \
            "not committed by the abandoned attempt"
        return (f"{attempts} attempts on {new_sockets} new sockets; first was {first}; "
                f"resend replayed same id")
    run_check("12 Lazy Pirate retry with same bytes", c12)

    cst = consent_checks(A, B, os.environ["KINNET_OTHER_CERT"])

    routing_checks(A, B, S, st, cst)

    ctx.term()
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


# --------------------------------------------------------------------------
# Consent service checks 13-17 (§12, §4.5-§4.6, §9.6)
# --------------------------------------------------------------------------

def consent_checks(A, B, other_cert_path):
    cst = {}
    # Agency ids: §2.2/§2.3 say the id is printed by the operator's command and
    # written in the certificate's (informational) metadata section. Use it if
    # present; in any case B is also covered through its sector (HEALTH).
    try:
        b_id = load_cert_agency_id(other_cert_path)
    except OSError:
        b_id = ""
    b_src = "certificate metadata (§2.2)"
    if not b_id and os.environ.get("KINNET_OTHER_AGENCY_ID"):
        b_id, b_src = os.environ["KINNET_OTHER_AGENCY_ID"], "operator (§2.3)"
    if not b_id:
        # §2.3: the operator's command names the files agency-<agency_id>.cert_secret
        import re
        m = re.fullmatch(r"agency-([0-9A-Fa-f-]{36})\.cert(_secret)?",
                         os.path.basename(other_cert_path))
        if m:
            b_id, b_src = m.group(1), "certificate file name (§2.3)"
    if b_id:
        note(f"agency B id {b_id} taken from the {b_src}")
    if b_id and not is_uuid(b_id.lower()):
        note(f"agency B certificate metadata agency_id {b_id!r} is not a UUID; ignored")
        b_id = ""
    if not b_id:
        note("agency B's id is neither in its certificate metadata nor its file "
             "name, and the protocol has "
             "no request returning the caller's own agency id; B is the recipient "
             "by sector (HEALTH) only")
    cst["b_id"] = b_id.lower()

    given = f"Testc{TAG[:4]}"
    family = f"Consent{TAG}"
    dob = "2015-06-01"                   # under 13: only a guardian's consent counts

    def make_record(idem_key, with_subject=True):
        req = consent_pb2.ConsentRequest()
        r = req.record
        r.idempotency_key = idem_key
        if with_subject:
            r.subject.person.given_name = given
            r.subject.person.family_name = family
            r.subject.person.date_of_birth = dob
        r.given_by = consent_pb2.GUARDIAN
        r.guardian.given_name = "Testina"
        r.guardian.family_name = family
        r.guardian.relationship = common_pb2.MOTHER
        r.guardian.parental_responsibility = True
        if cst["b_id"]:
            r.scope.agencies.append(cst["b_id"])
        r.scope.sectors.extend([common_pb2.HEALTH, common_pb2.SCHOOL])
        r.scope.categories.extend([common_pb2.IDENTITY_AND_CONTACT,
                                   common_pb2.REFERRAL_NARRATIVE])
        r.scope.purposes.append(common_pb2.REFERRAL_AND_ASSESSMENT)
        r.method = consent_pb2.WRITTEN
        r.evidence_reference = f"IOP-FORM-{TAG}"
        r.privacy_notice_version = "2026-09"
        r.privacy_notice_language = "en"
        r.caseworker_id = "interop-cw-1"
        return req

    rec_req = make_record(key("consent-record"))
    rec_bytes = rec_req.SerializeToString()

    # ---- 13. record ------------------------------------------------------------
    def c13():
        reply = A.consent_raw(rec_bytes)
        expect(reply.WhichOneof("result") == "consent",
               f"result {reply.WhichOneof('result')}")
        c = reply.consent
        expect(is_uuid(c.consent_id), f"consent_id {c.consent_id!r} not a UUID")
        expect(is_uuid(c.subject_id), f"subject_id {c.subject_id!r} not a UUID")
        expect(c.status == consent_pb2.ACTIVE,
               f"status {consent_pb2.ConsentStatus.Name(c.status)}")
        expect(c.replayed is False, "replayed true on first record")
        expect(c.given_by == consent_pb2.GUARDIAN, "given_by differs")
        expect(c.guardian.given_name == "Testina" and c.guardian.parental_responsibility,
               "guardian not returned as recorded")
        expect(list(c.scope.sectors) == [common_pb2.HEALTH, common_pb2.SCHOOL],
               f"scope.sectors {list(c.scope.sectors)}")
        expect(list(c.scope.agencies) == ([cst["b_id"]] if cst["b_id"] else []),
               f"scope.agencies {list(c.scope.agencies)}")
        expect(c.evidence_reference == rec_req.record.evidence_reference,
               "evidence_reference differs")
        expect(c.privacy_notice_language == "en", "privacy_notice_language differs")
        expect(is_uuid(c.recorded_by_agency_id), "recorded_by_agency_id not a UUID")
        expect(c.recorded_at.seconds > 0 and c.recorded_at.nanos == 0,
               "recorded_at not whole seconds (§12.4)")
        expect(not c.withdrawals, "withdrawals on a new consent")
        cst["consent_id"], cst["subject_id"] = c.consent_id, c.subject_id
        cst["a_id"] = c.recorded_by_agency_id
        return f"ACTIVE consent_id={c.consent_id} subject_id={c.subject_id}"
    run_check("13 A records a guardian's consent", c13)

    def make_child_submit(idem_key, consent_ref):
        s = make_submit(idem_key, given=given)
        s.child.family_name = family
        s.child.date_of_birth = dob
        for g in s.guardians:
            g.family_name = family
        del s.siblings[:]
        sib = s.siblings.add()
        sib.given_name, sib.family_name = f"Testd{TAG[:4]}", family
        sib.date_of_birth = "2018-09-12"
        s.lawful_ground.Clear()
        s.lawful_ground.basis = common_pb2.CONSENT
        s.lawful_ground.consent_reference = consent_ref
        return s

    # ---- 14. referral on the consent ----------------------------------------------
    def c14():
        expect("consent_id" in cst, "no consent from check 13")
        s = make_child_submit(key("consent-submit"), cst["consent_id"])
        r = A.submit(s)
        expect(is_uuid(r.referral_id) and not r.replayed, "referral not accepted")
        expect(not r.family_matched and r.family_id == "" and not r.subject_ids,
               "the reply names the family though recording a consent gives no "
               "standing with it (§4.5, §11 item 12)")
        cst["referral_id"], cst["sub"] = r.referral_id, s
        bad = make_child_submit(key("consent-submit-bad"), str(uuid.uuid4()))
        e = expect_error(lambda: A.submit(bad), ErrorCode.INVALID_ARGUMENT,
                         "lawful_ground.consent_reference")
        expect(e.message.startswith("that consent does not permit this child's "
                                    "referral by your agency ("),
               f"message {e.message!r}")
        return (f"accepted referral_id={r.referral_id}; random consent -> "
                f"{e.name} field={e.field}")
    run_check("14 referral on CONSENT accepted; random consent refused", c14)

    # ---- 15. B reads it under the consent -------------------------------------------
    def c15():
        expect("referral_id" in cst, "no referral from check 14")
        ref = B.get(cst["referral_id"])
        sub = ref.submitted
        expect(ref.referral_id.lower() == cst["referral_id"], "referral_id differs")
        expect(sub.child.given_name == given and sub.child.family_name == family,
               "child's name withheld or wrong")
        expect(sub.child.date_of_birth == dob, "child's date of birth differs")
        expect([n.description for n in sub.needs]
               == [n.description for n in cst["sub"].needs], "need descriptions differ")
        expect([n.category for n in sub.needs]
               == [n.category for n in cst["sub"].needs], "need categories differ")
        expect(len(sub.guardians) == 0, f"{len(sub.guardians)} guardian(s) disclosed")
        expect(list(ref.withheld) == [common_pb2.FAMILY_CIRCUMSTANCES],
               f"withheld {[common_pb2.DataCategory.Name(x) for x in ref.withheld]}")
        expect(ref.disclosure_basis == common_pb2.CONSENT,
               f"disclosure_basis {common_pb2.LawfulBasis.Name(ref.disclosure_basis)}")
        expect(ref.disclosure_ground_id.lower() == cst["consent_id"].lower(),
               f"disclosure_ground_id {ref.disclosure_ground_id!r}")
        expect(sub.idempotency_key == "" and sub.caseworker_id == "",
               "idempotency_key/caseworker_id not blanked for another agency")
        expect(len(sub.siblings) == 0,
               "sibling without its own consent was disclosed (§4.6)")
        expect(ref.referring_agency_id == cst.get("a_id"),
               "referring_agency_id != consent's recorded_by_agency_id")
        return ("name and needs shown; guardians withheld (FAMILY_CIRCUMSTANCES); "
                "basis CONSENT, ground = consent id; sibling removed")
    run_check("15 agency B reads the referral under the consent", c15)

    # ---- 16. full withdrawal ----------------------------------------------------------
    def c16():
        expect("consent_id" in cst, "no consent from check 13")
        req = consent_pb2.ConsentRequest()
        req.withdraw.idempotency_key = key("consent-withdraw")
        req.withdraw.consent_id = cst["consent_id"]
        req.withdraw.channel = consent_pb2.VERBAL_WITNESSED
        req.withdraw.caseworker_id = "interop-cw-1"
        reply = A.consent(req)
        expect(reply.WhichOneof("result") == "consent",
               f"result {reply.WhichOneof('result')}")
        c = reply.consent
        expect(c.consent_id == cst["consent_id"], "consent_id differs")
        expect(c.status == consent_pb2.FULLY_WITHDRAWN,
               f"status {consent_pb2.ConsentStatus.Name(c.status)}")
        expect(len(c.withdrawals) == 1, f"{len(c.withdrawals)} withdrawals")
        w = c.withdrawals[0]
        expect(w.channel == consent_pb2.VERBAL_WITNESSED, "channel differs")
        expect(is_uuid(w.withdrawal_id), "withdrawal_id not a UUID")
        cst["withdrawn"] = True
        expect("referral_id" in cst, "no referral from check 14")
        e = expect_error(lambda: B.get(cst["referral_id"]),
                         ErrorCode.PERMISSION_DENIED, "referral_id")
        own = A.get(cst["referral_id"])
        expect(len(own.submitted.guardians) == 1 and not own.withheld,
               "A no longer reads its own referral in full")
        return f"FULLY_WITHDRAWN; B get -> {e.name} field={e.field}: {e.message}"
    run_check("16 full withdrawal; B is then refused", c16)

    # ---- 17. bad input, receipt, replay -----------------------------------------------
    def c17a():
        req = make_record(key("consent-nosubject"), with_subject=False)
        e = expect_error(lambda: A.consent(req), ErrorCode.INVALID_ARGUMENT, "subject",
                         "subject is required: subject_id or person")
        return f"{e.name} field={e.field}"
    run_check("17a RecordConsent without subject -> subject", c17a)

    def c17b():
        import json
        expect("consent_id" in cst, "no consent from check 13")
        req = consent_pb2.ConsentRequest()
        req.receipt.consent_id = cst["consent_id"]
        reply = A.consent(req)
        expect(reply.WhichOneof("result") == "receipt_json",
               f"result {reply.WhichOneof('result')}")
        doc = json.loads(reply.receipt_json)
        expect(isinstance(doc, dict), "receipt is not a JSON object")
        expect(cst["consent_id"] in reply.receipt_json, "consent id not in the receipt")
        expect(doc.get("consentReceiptID") == cst["consent_id"],
               f"consentReceiptID {doc.get('consentReceiptID')!r}")
        expect(doc.get("piiPrincipalId") == cst["subject_id"], "piiPrincipalId differs")
        expect(doc.get("givenBy") == "guardian", f"givenBy {doc.get('givenBy')!r}")
        expect(given not in reply.receipt_json and family not in reply.receipt_json,
               "receipt carries a person's name (§12.11)")
        if cst.get("withdrawn"):
            expect(doc.get("status") == "fully_withdrawn", f"status {doc.get('status')!r}")
            ev = [x.get("event") for x in doc.get("events", [])]
            expect(ev == ["given", "withdrawn"], f"events {ev}")
        return f"JSON parses; consentReceiptID, status {doc.get('status')!r}"
    run_check("17b receipt JSON", c17b)

    def c17c():
        expect("consent_id" in cst, "no consent from check 13")
        c = A.consent_raw(rec_bytes).consent
        expect(c.replayed is True, "replayed is false")
        expect(c.consent_id == cst["consent_id"],
               f"consent_id {c.consent_id} != {cst['consent_id']}")
        expect(c.subject_id == cst["subject_id"], "subject_id differs")
        if cst.get("withdrawn"):
            expect(c.status == consent_pb2.FULLY_WITHDRAWN,
                   "replay does not show the consent as it is now (§12.9)")
        return (f"replayed=true, same consent_id, status "
                f"{consent_pb2.ConsentStatus.Name(c.status)}")
    run_check("17c same RecordConsent bytes replay", c17c)
    return cst


# --------------------------------------------------------------------------
# Routing and feed checks 18-29 (§13)
# --------------------------------------------------------------------------

IS_TS = re.compile(r"last offered \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def routing_checks(A, B, S, st, cst):
    a_id = os.environ.get("KINNET_AGENCY_ID", "").lower()
    b_id = os.environ.get("KINNET_OTHER_AGENCY_ID", "").lower()
    rst = {"a_after": 0, "b_events": {}, "a_events": {}}

    def fetch(client, store, after_key, stop, wait_ms=5000, deadline_s=30):
        """Read a feed from the stored cursor on (long polls) until stop(event) is
        true for a new event or deadline_s passes. Every event read is kept by seq
        in `store`. Returns the matching event or None."""
        end = time.monotonic() + deadline_s
        while True:
            batch = client.feed(after=rst[after_key], wait_ms=wait_ms)
            found = None
            for ev in batch.events:
                expect(ev.seq == rst[after_key] + 1,
                       f"seq {ev.seq} after {rst[after_key]}: a gap or a repeat (§13.13)")
                rst[after_key] = ev.seq
                store[ev.seq] = ev
                if found is None and stop(ev):
                    found = ev
            expect(batch.last_seq >= rst[after_key], "last_seq below the events read")
            if found is not None:
                return found
            if time.monotonic() >= end:
                return None

    def find(store, pred):
        return [ev for _, ev in sorted(store.items()) if pred(ev)]

    def routing_req(**ops):
        req = routing_pb2.RoutingRequest()
        for name, fill in ops.items():
            fill(getattr(req, name))
        return req

    # ---- 18. the feed as it stands: earlier referrals' offers ---------------------
    def c18a():
        expect(is_uuid(a_id) and is_uuid(b_id),
               "KINNET_AGENCY_ID / KINNET_OTHER_AGENCY_ID not set")
        rst["b_after"] = 0
        batch = B.feed(after=0, max_events=500)
        for i, ev in enumerate(batch.events):
            expect(ev.seq == i + 1, f"event {i} has seq {ev.seq}: not 1, 2, 3 ...")
            rst["b_events"][ev.seq] = ev
            rst["b_after"] = ev.seq
        expect(batch.last_seq == len(batch.events) or len(batch.events) == 500,
               f"last_seq {batch.last_seq} with {len(batch.events)} events")
        offers = find(rst["b_events"], lambda e: e.topic == "offer.made")
        for ev in offers:
            expect(ev.WhichOneof("body") == "offer", f"offer.made body {ev.WhichOneof('body')}")
            expect(ev.offer.involvement.agency_id == b_id,
                   "an offer in B's feed is addressed to another agency")
        expect(offers, "no offer.made in B's feed for the referrals of checks 2-14")
        return f"{len(batch.events)} events, seq 1..{batch.last_seq}, {len(offers)} offers"
    run_check("18a B's feed numbered 1, 2, 3 ... and holds only its own offers", c18a)

    def c18b():
        expect("b_after" in rst, "check 18a did not run")
        expect("referral_id" in st and st.get("withdrawn_at"), "no withdrawn referral (9a)")
        made = find(rst["b_events"], lambda e: e.topic == "offer.made"
                    and e.offer.referral_id == st["referral_id"])
        if not made:
            return "withdrawn before it was routed: no offer (§13.8)"
        oid = made[0].offer.involvement.involvement_id
        ev = find(rst["b_events"], lambda e: e.topic == "offer.withdrawn"
                  and e.involvement.involvement_id == oid) or [fetch(
                      B, rst["b_events"], "b_after",
                      lambda e: e.topic == "offer.withdrawn"
                      and e.involvement.involvement_id == oid)]
        expect(ev[0] is not None, "no offer.withdrawn for the withdrawn referral's offer")
        inv = ev[0].involvement
        expect(inv.status == routing_pb2.OFFER_WITHDRAWN,
               f"status {routing_pb2.InvolvementStatus.Name(inv.status)}")
        expect(inv.HasField("decided_at"), "decided_at absent on a withdrawn offer")
        return f"offer {oid} -> offer.withdrawn, OFFER_WITHDRAWN"
    run_check("18b withdrawn referral (9a): its open offer is withdrawn", c18b)

    def c18c():
        expect("b_after" in rst and cst.get("withdrawn"), "consent checks did not finish")
        made = find(rst["b_events"], lambda e: e.topic == "offer.made"
                    and e.offer.referral_id == cst["referral_id"])
        if not made:
            # Routing may not have reached it yet (§13.6: it waits for older
            # transactions): wait for it on the feed.
            made = [fetch(B, rst["b_events"], "b_after",
                          lambda e: e.topic == "offer.made"
                          and e.offer.referral_id == cst["referral_id"])]
        expect(made[0] is not None, "no offer.made for the CONSENT referral of check 14")
        if not made[0].offer.details_available:
            note("the CONSENT referral's offer has details_available false: the "
                 "withdrawal (16) was checked first, a race the document allows (§13.14)")
        else:
            expect(not made[0].offer.involvement.waiting_for_consent,
                   "details_available true but waiting_for_consent true")
        cw = find(rst["b_events"], lambda e: e.topic == "consent.withdrawn"
                  and e.consent_withdrawn.consent_id == cst["consent_id"])
        if not cw:
            cw = [fetch(B, rst["b_events"], "b_after",
                        lambda e: e.topic == "consent.withdrawn"
                        and e.consent_withdrawn.consent_id == cst["consent_id"])]
        ev = cw[0]
        expect(ev is not None, "no consent.withdrawn in B's feed after check 16")
        expect(ev.WhichOneof("body") == "consent_withdrawn", "body not consent_withdrawn")
        expect(ev.consent_withdrawn.recipient_agency_id == b_id,
               f"recipient_agency_id {ev.consent_withdrawn.recipient_agency_id!r}")
        expect(ev.case_id == "", f"case_id {ev.case_id!r} on consent.withdrawn")
        return (f"offer.made details_available={made[0].offer.details_available}; "
                f"consent.withdrawn seq {ev.seq} addressed to B")
    run_check("18c CONSENT referral offered to B; B told of the withdrawal", c18c)

    # ---- 19. long poll -------------------------------------------------------------
    given = f"Testr{TAG[:4]}"
    family = f"Routing{TAG}"

    def make_routing_submit(idem_key):
        s = make_submit(idem_key, given=given)
        s.child.family_name = family
        s.child.languages[:] = ["en", "pt-BR"]
        for g in s.guardians:
            g.family_name = family
        del s.siblings[:]
        sib = s.siblings.add()
        sib.given_name, sib.family_name = f"Testq{TAG[:4]}", family
        sib.date_of_birth = "2018-09-12"
        sib.languages.append("en")
        return s                         # needs: LANGUAGE_SUPPORT, HOUSING_NEED; PRIORITY

    def c19a():
        expect("b_after" in rst, "check 18a did not run")
        t0 = time.monotonic()
        batch = B.feed(after=rst["b_after"], wait_ms=1500)
        dt = time.monotonic() - t0
        if batch.events:
            for ev in batch.events:
                rst["b_events"][ev.seq] = ev
                rst["b_after"] = ev.seq
            return f"an event arrived meanwhile (seq {batch.events[0].seq}); wait not measured"
        expect(dt >= 1.3, f"empty long poll answered after {dt:.2f} s, not ~1.5 s")
        expect(batch.last_seq == rst["b_after"], f"last_seq {batch.last_seq}")
        return f"empty batch after {dt:.2f} s, last_seq {batch.last_seq}"
    run_check("19a long poll with nothing new waits wait_ms", c19a)

    def c19b():
        expect("b_after" in rst, "check 18a did not run")
        out = {}

        def poll():
            t0 = time.monotonic()
            try:
                out["batch"] = B.feed(after=rst["b_after"], wait_ms=20000)
            except Exception as e:  # noqa: BLE001
                out["error"] = e
            out["dt"] = time.monotonic() - t0
        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.5)                 # the poll is waiting in the feed service
        s = make_routing_submit(key("routing-submit"))
        r = A.submit(s)
        rst["referral_id"], rst["family_id"] = r.referral_id, r.family_id
        th.join(30)
        expect(not th.is_alive(), "long poll still running after 30 s")
        if "error" in out:
            raise out["error"]
        batch = out["batch"]
        expect(batch.events, f"long poll returned empty after {out['dt']:.1f} s")
        expect(out["dt"] < 15, f"long poll took {out['dt']:.1f} s for the event")
        for ev in batch.events:
            expect(ev.seq == rst["b_after"] + 1, f"seq {ev.seq} after {rst['b_after']}")
            rst["b_events"][ev.seq] = ev
            rst["b_after"] = ev.seq
        return (f"answered {out['dt']:.2f} s after the poll began with "
                f"{len(batch.events)} event(s), not after 20 s")
    run_check("19b long poll answered as soon as the offer exists", c19b)

    # ---- 20. the offer -------------------------------------------------------------
    def c20():
        expect("referral_id" in rst, "no routing referral from 19b")
        mine = lambda e: (e.topic == "offer.made"  # noqa: E731
                          and e.offer.referral_id == rst["referral_id"])
        ev = (find(rst["b_events"], mine) or [fetch(B, rst["b_events"], "b_after", mine)])[0]
        expect(ev is not None, "no offer.made for the referral in B's feed")
        o, inv = ev.offer, ev.offer.involvement
        rst["offer_id"], rst["case_id"] = inv.involvement_id, ev.case_id
        expect(is_uuid(inv.involvement_id) and is_uuid(ev.case_id), "ids not UUIDs")
        expect(inv.case_id == ev.case_id, "involvement.case_id != event case_id")
        expect(inv.agency_id == b_id, f"offered to {inv.agency_id}")
        expect(inv.status == routing_pb2.OFFERED,
               f"status {routing_pb2.InvolvementStatus.Name(inv.status)}")
        expect(inv.need == common_pb2.LANGUAGE_SUPPORT,
               f"need {common_pb2.NeedCategory.Name(inv.need)}")
        expect(o.referring_agency_id == a_id, "referring_agency_id is not A")
        expect(o.urgency == common_pb2.PRIORITY and o.district == "north",
               "urgency/district differ")
        expect(list(o.languages) == ["en", "pt"], f"languages {list(o.languages)}")
        expect(o.children == 2, f"children {o.children}")
        expect(not o.details_available and inv.waiting_for_consent,
               "PUBLIC_TASK referral: details must not be available to B (§13.14)")
        expect(inv.deadline_at.seconds - inv.offered_at.seconds == 3 * 86400,
               "PRIORITY deadline is not 3 days (§13.9)")
        expect(abs(ev.at.seconds - time.time()) < 3600 and ev.at.nanos == 0,
               "FeedEvent.at not whole seconds near now")
        rk = inv.ranking
        expect(rk.rank == 1 and rk.candidates == 1, f"rank {rk.rank} of {rk.candidates}")
        f = {x.rule: x for x in rk.factors}
        expect([x.rule for x in rk.factors] == ["continuity", "language", "headroom",
                                                "rotation"],
               f"rules {[x.rule for x in rk.factors]}")
        expect(f["continuity"].score == 0 and f["continuity"].detail == "new to the family",
               f"continuity {f['continuity']}")
        expect(f["language"].score == 0 and f["language"].detail == "no language match",
               f"language {f['language']}")
        expect(f["headroom"].score == 1000 and f["headroom"].detail == "no capacity limit",
               f"headroom {f['headroom']}")
        rot = f["rotation"]
        expect((rot.score == 0 and rot.detail == "never offered")
               or (rot.score < 0 and IS_TS.fullmatch(rot.detail)), f"rotation {rot}")
        expect(given.encode() not in ev.SerializeToString()
               and family.encode() not in ev.SerializeToString(),
               "the offer carries the child's name")
        return (f"offer {inv.involvement_id} LANGUAGE_SUPPORT to B, waiting_for_consent, "
                f"languages en,pt, rotation {rot.detail!r}")
    run_check("20 B's offer: content, ranking, no personal data", c20)

    def c20b():
        expect("referral_id" in rst, "no routing referral from 19b")
        mine = lambda e: (e.topic == "need.unplaced"  # noqa: E731
                          and e.need.referral_id == rst["referral_id"])
        ev = fetch(A, rst["a_events"], "a_after", mine)
        expect(ev is not None, "no need.unplaced in A's feed")
        n = ev.need
        expect(n.category == common_pb2.HOUSING_NEED,
               f"category {common_pb2.NeedCategory.Name(n.category)}")
        expect(n.status == routing_pb2.NEED_UNPLACED, "status not NEED_UNPLACED")
        expect(n.case_id == rst.get("case_id", n.case_id) and n.district == "north",
               "case/district differ")
        rst["housing_need"] = n.need_id
        return f"HOUSING_NEED {n.need_id} unplaced; the referrer was told"
    run_check("20b need nobody serves -> need.unplaced to the referrer", c20b)

    # ---- 21. who may answer, and bad requests -------------------------------------
    def accept_req(idem, offer_id, cw="iop-hw-1"):
        def fill(op):
            op.idempotency_key, op.offer_id, op.caseworker_id = idem, offer_id, cw
        return routing_req(accept=fill)

    def c21():
        expect("offer_id" in rst, "no offer from check 20")
        oid = rst["offer_id"]
        e1 = expect_error(lambda: A.routing(accept_req(key("r-a-1"), oid)),
                          ErrorCode.NOT_FOUND, "offer_id", "no such offer for your agency")
        expect_error(lambda: A.routing(accept_req(key("r-a-2"), str(uuid.uuid4()))),
                     ErrorCode.NOT_FOUND, "offer_id", "no such offer for your agency")
        expect_error(lambda: B.routing(accept_req(key("r-a-3"), "not-a-uuid")),
                     ErrorCode.INVALID_ARGUMENT, "offer_id", "offer_id must be a UUID")

        def no_reason(op):
            op.idempotency_key, op.offer_id = key("r-d-1"), oid
        expect_error(lambda: B.routing(routing_req(decline=no_reason)),
                     ErrorCode.INVALID_ARGUMENT, "reason", "reason is required")
        expect_error(lambda: B.routing(routing_pb2.RoutingRequest()),
                     ErrorCode.INVALID_ARGUMENT, "op",
                     "RoutingRequest must set one operation")
        try:
            S.routing(accept_req(key("r-s-1"), oid))
            raise AssertionError("the stranger got an answer")
        except Unauthenticated:
            pass
        return f"A -> {e1.name} {e1.field}; unknown -> NOT_FOUND; stranger -> no reply"
    run_check("21 only the offered agency may answer; bad requests refused", c21)

    def c21b():
        expect("case_id" in rst, "no case from check 20")

        def get(op):
            op.case_id = rst["case_id"]
        c = B.routing(routing_req(get_case=get)).case
        expect(c.case_id == rst["case_id"] and c.status == routing_pb2.CASE_OPEN, "case")
        expect(len(c.involvements) == 1 and c.involvements[0].agency_id == b_id,
               f"{len(c.involvements)} involvements in B's part")
        expect([n.category for n in c.needs] == [common_pb2.LANGUAGE_SUPPORT],
               f"needs in B's part {[n.category for n in c.needs]}")
        expect(not c.referral_ids and c.lead_agency_id == "" and not c.HasField("lead_since"),
               "referral_ids or lead shown to an agency with only an offer")
        # The submit reply named no family (a first referral, §4.5); the case does.
        expect(is_uuid(c.family_id), f"case family_id {c.family_id!r} not a UUID")
        full = A.routing(routing_req(get_case=get)).case
        expect(list(full.referral_ids) == [rst["referral_id"]],
               f"referral_ids {list(full.referral_ids)}")
        expect(sorted(n.category for n in full.needs)
               == [common_pb2.LANGUAGE_SUPPORT, common_pb2.HOUSING_NEED],
               "the referrer does not see both needs")
        expect(full.family_id == c.family_id, "family_id differs between the two views")
        expect(list(full.languages) == ["en", "pt"] and full.district == "north"
               and full.urgency == common_pb2.PRIORITY, "case fields differ")
        bad = routing_req(get_case=lambda op: setattr(op, "case_id", str(uuid.uuid4())))
        expect_error(lambda: A.routing(bad), ErrorCode.NOT_FOUND, "case_id",
                     "no such case visible to you")
        return "B (offer only): own involvement and need; A (referrer): whole case"
    run_check("21b get_case: the offered agency sees its part, the referrer all", c21b)

    def c21c():
        expect("case_id" in rst, "no case from check 20")

        def lead(op):
            op.idempotency_key, op.case_id, op.agency_id = key("r-l-0"), rst["case_id"], b_id
        e = expect_error(lambda: B.routing(routing_req(lead=lead)),
                         ErrorCode.PERMISSION_DENIED, "case_id")

        def lead_a(op):
            op.idempotency_key, op.case_id, op.agency_id = key("r-l-1"), rst["case_id"], a_id
        e2 = expect_error(lambda: A.routing(routing_req(lead=lead_a)),
                          ErrorCode.INVALID_ARGUMENT, "agency_id")
        return f"offer-only appointer -> {e.name}; lead without acceptance -> {e2.name}"
    run_check("21c lead: not by an offer holder, not to an agency without acceptance", c21c)

    # ---- 22. accept, conflict, replay ------------------------------------------------
    acc = accept_req(key("r-accept"), "")

    def c22a():
        expect("offer_id" in rst, "no offer from check 20")
        acc.accept.offer_id = rst["offer_id"]
        rst["acc_bytes"] = acc.SerializeToString()
        reply = B.routing_raw(rst["acc_bytes"])
        expect(reply.WhichOneof("result") == "involvement",
               f"result {reply.WhichOneof('result')}")
        inv = reply.involvement
        expect(not reply.replayed, "replayed true on the first accept")
        expect(inv.involvement_id == rst["offer_id"] and inv.agency_id == b_id, "ids differ")
        expect(inv.status == routing_pb2.ACCEPTED,
               f"status {routing_pb2.InvolvementStatus.Name(inv.status)}")
        expect(inv.HasField("decided_at") and inv.caseworker_id == "iop-hw-1",
               "decided_at or caseworker_id not stored")
        rst["accepted"] = True
        return "ACCEPTED, replayed=false, decided_at and caseworker_id set"
    run_check("22a B accepts its offer", c22a)

    def c22b():
        expect(rst.get("accepted"), "not accepted in 22a")
        e = expect_error(lambda: B.routing(accept_req(key("r-accept-2"), rst["offer_id"])),
                         ErrorCode.CONFLICT, "offer_id", "the offer is already accepted")

        def decline(op):
            op.idempotency_key, op.offer_id = key("r-decline"), rst["offer_id"]
            op.reason = routing_pb2.NO_CAPACITY
        e2 = expect_error(lambda: B.routing(routing_req(decline=decline)),
                          ErrorCode.CONFLICT, "offer_id", "the offer is already accepted")
        return f"new key -> {e.name} {e.field}: {e.message}; decline -> {e2.name}"
    run_check("22b accepting again with a new key -> CONFLICT offer_id", c22b)

    def c22c():
        expect(rst.get("accepted"), "not accepted in 22a")
        reply = B.routing_raw(rst["acc_bytes"])
        expect(reply.replayed is True, "replayed is false")
        expect(reply.involvement.involvement_id == rst["offer_id"]
               and reply.involvement.status == routing_pb2.ACCEPTED, "replay answer differs")
        other = accept_req(key("r-accept"), str(uuid.uuid4()))
        expect_error(lambda: B.routing(other), ErrorCode.CONFLICT, "idempotency_key",
                     "idempotency key already used for a different request")
        # §13.12: caseworker_id is not part of the comparison: another caseworker
        # retrying under the same key gets the replay.
        cw = accept_req(key("r-accept"), rst["offer_id"], cw="iop-hw-2")
        again = B.routing(cw)
        expect(again.replayed is True and again.involvement.involvement_id == rst["offer_id"],
               "same key from another caseworker is not a replay")
        return ("same bytes -> replayed=true, ACCEPTED; same key with another offer -> "
                "CONFLICT idempotency_key; another caseworker -> replay")
    run_check("22c same accept bytes replay; same key, other content -> CONFLICT", c22c)

    # ---- 23. the referrer hears; the case shows the involvement ----------------------
    def c23():
        expect(rst.get("accepted"), "not accepted in 22a")
        mine = lambda e: (e.topic == "involvement.changed"  # noqa: E731
                          and e.involvement.involvement_id == rst["offer_id"]
                          and e.involvement.status == routing_pb2.ACCEPTED)
        ev = (find(rst["a_events"], mine)
              or [fetch(A, rst["a_events"], "a_after", mine)])[0]
        expect(ev is not None, "no involvement.changed (ACCEPTED) in A's feed")
        expect(ev.case_id == rst["case_id"] and ev.involvement.agency_id == b_id,
               "event names another case or agency")

        def get(op):
            op.case_id = rst["case_id"]
        c = A.routing(routing_req(get_case=get)).case
        inv = [i for i in c.involvements if i.involvement_id == rst["offer_id"]]
        expect(inv and inv[0].status == routing_pb2.ACCEPTED, "case lacks the involvement")
        needs = {n.category: n.status for n in c.needs}
        expect(needs == {common_pb2.LANGUAGE_SUPPORT: routing_pb2.NEED_PLACED,
                         common_pb2.HOUSING_NEED: routing_pb2.NEED_UNPLACED},
               f"need statuses {needs}")
        team = B.routing(routing_req(get_case=get)).case
        expect(list(team.referral_ids) == [rst["referral_id"]],
               "B, now on the team, does not see the whole case")
        return f"A's feed seq {ev.seq} involvement.changed ACCEPTED; case shows it"
    run_check("23 referrer's feed: involvement.changed; case shows the team", c23)

    # ---- 24. lead, contact, close ---------------------------------------------------
    def c24a():
        expect(rst.get("accepted"), "not accepted in 22a")

        def lead(op):
            op.idempotency_key, op.case_id, op.agency_id = key("r-lead"), rst["case_id"], b_id
            op.lead_caseworker_id, op.caseworker_id = "iop-hw-lead", "interop-cw-1"
        c = A.routing(routing_req(lead=lead)).case
        expect(c.lead_agency_id == b_id and c.lead_caseworker_id == "iop-hw-lead",
               "lead not set")
        expect([i.lead for i in c.involvements if i.agency_id == b_id] == [True],
               "Involvement.lead not set on the lead's accepted involvement")
        for client, store, cur in ((B, rst["b_events"], "b_after"),
                                   (A, rst["a_events"], "a_after")):
            ev = fetch(client, store, cur, lambda e: e.topic == "lead.changed"
                       and e.lead.case_id == rst["case_id"] and e.lead.lead_agency_id == b_id)
            expect(ev is not None, "a watcher got no lead.changed")
            expect(ev.lead.changed_by_agency_id == a_id, "changed_by_agency_id is not A")
        return "lead = B; lead.changed to B (team) and A (referrer, the appointer)"
    run_check("24a A appoints B lead; both watchers hear", c24a)

    def contact_req(idem, at=None):
        def fill(op):
            op.idempotency_key, op.case_id = idem, rst["case_id"]
            if at is not None:
                op.contacted_at.SetInParent()          # present even when seconds is 0
                op.contacted_at.seconds = at
        return routing_req(contact=fill)

    def c24b():
        expect(rst.get("accepted"), "not accepted in 22a")
        expect_error(lambda: B.routing(contact_req(key("r-c-0"), 0)),
                     ErrorCode.INVALID_ARGUMENT, "contacted_at",
                     "a time after 1970, or unset for now")
        expect_error(lambda: B.routing(contact_req(key("r-c-1"), int(time.time()) + 86400)),
                     ErrorCode.INVALID_ARGUMENT, "contacted_at",
                     "first contact must lie between the acceptance and now")
        expect_error(lambda: A.routing(contact_req(key("r-c-2"))), ErrorCode.NOT_FOUND,
                     "case_id", "your agency has no accepted involvement on this case")
        inv = B.routing(contact_req(key("r-c-1"))).involvement   # key not consumed above
        expect(inv.HasField("first_contact_at"), "first_contact_at not set")
        expect_error(lambda: B.routing(contact_req(key("r-c-3"))), ErrorCode.CONFLICT,
                     "case_id", "first contact is already recorded")
        return "bad times refused; contact recorded once; A (no involvement) NOT_FOUND"
    run_check("24b first contact", c24b)

    def c24c():
        expect(rst.get("accepted"), "not accepted in 22a")

        def close(op):
            op.idempotency_key, op.case_id = key("r-close"), rst["case_id"]
            op.outcome = routing_pb2.NEEDS_MET
        req = routing_req(close=close)
        inv = B.routing(req).involvement
        expect(inv.status == routing_pb2.CLOSED and inv.outcome == routing_pb2.NEEDS_MET
               and inv.HasField("closed_at"), "not CLOSED with its outcome")
        again = B.routing(req)
        expect(again.replayed and again.involvement.involvement_id == rst["offer_id"],
               "close replay differs")
        ev = fetch(A, rst["a_events"], "a_after", lambda e: e.topic == "lead.changed"
                   and e.lead.case_id == rst["case_id"] and e.lead.lead_agency_id == "")
        expect(ev is not None and ev.lead.changed_by_agency_id == b_id,
               "no lead.changed (stepped down) in A's feed")

        def get(op):
            op.case_id = rst["case_id"]
        c = B.routing(routing_req(get_case=get)).case      # former team: still sees all
        expect(c.status == routing_pb2.CASE_OPEN, "case closed though a need is unplaced")
        expect(c.lead_agency_id == "", f"lead still {c.lead_agency_id!r}")
        needs = {n.category: n.status for n in c.needs}
        expect(needs.get(common_pb2.LANGUAGE_SUPPORT) == routing_pb2.NEED_CLOSED,
               f"need statuses {needs}")
        return "CLOSED NEEDS_MET; replay; lead stepped down; case open (unplaced need)"
    run_check("24c close; lead steps down; unplaced need keeps the case open", c24c)

    # ---- 25. unplaced list -------------------------------------------------------------
    def c25():
        expect("housing_need" in rst, "no unplaced need from 20b")

        def north(op):
            op.district = "north"
        a = A.routing(routing_req(unplaced=north))
        expect(a.WhichOneof("result") == "unplaced", f"result {a.WhichOneof('result')}")
        expect(rst["housing_need"] in [n.need_id for n in a.unplaced.needs],
               "A's unplaced list lacks its need")
        b = B.routing(routing_req(unplaced=north))
        expect(b.WhichOneof("result") == "unplaced" and not b.unplaced.needs,
               "B (no referrals, no coordinator role) sees unplaced needs")
        expect_error(lambda: A.routing(routing_req(
            unplaced=lambda op: setattr(op, "district", "x" * 65))),
            ErrorCode.TOO_LARGE, "district")
        return f"A: {len(a.unplaced.needs)} unplaced (incl. its own); B: empty list"
    run_check("25 unplaced: the referrer sees its needs, others nothing", c25)

    # ---- 26. feed validation and cursor -------------------------------------------------
    def c26a():
        def bad(**kw):
            req = routing_pb2.FeedRequest()
            for k, v in kw.items():
                setattr(req.read, k, v)
            return req
        e = expect_error(lambda: B.feed(request=bad(wait_ms=20001)),
                         ErrorCode.INVALID_ARGUMENT, "wait_ms", "0..20000 milliseconds")
        expect_error(lambda: B.feed(request=bad(max=501)), ErrorCode.INVALID_ARGUMENT, "max")
        expect_error(lambda: B.feed(request=bad(after=-1)), ErrorCode.INVALID_ARGUMENT,
                     "after")
        expect_error(lambda: B.feed(request=routing_pb2.FeedRequest()),
                     ErrorCode.INVALID_ARGUMENT, "op", "FeedRequest must set read")
        return f"wait_ms 20001 -> {e.name} field={e.field}; max 501, after -1, no op refused"
    run_check("26a feed limits: wait_ms, max, after, op", c26a)

    def c26b():
        b = B.feed(after=0, max_events=2)
        expect([ev.seq for ev in b.events] == [1, 2], f"seqs {[ev.seq for ev in b.events]}")
        rest = B.feed(after=2, max_events=500)
        expect(rest.events and rest.events[0].seq == 3, "after=2 does not start at 3")
        seqs = [ev.seq for ev in rest.events]
        expect(seqs == list(range(3, 3 + len(seqs))), "gaps in the feed")
        expect(rest.last_seq == seqs[-1], f"last_seq {rest.last_seq} != {seqs[-1]}")
        ahead = B.feed(after=rest.last_seq + 10)
        expect(not ahead.events and ahead.last_seq == rest.last_seq,
               "after beyond last_seq is not an empty batch")
        own = [ev for ev in rest.events if ev.topic == "involvement.changed"
               and ev.involvement.agency_id == b_id]
        expect(not own, "B was told of changes to its own involvement (§13.13)")
        return f"max 2 -> seqs 1,2; after 2 -> 3..{rest.last_seq}; after beyond -> empty"
    run_check("26b feed cursor: after, max, last_seq", c26b)

    # ---- 27. a list of brokers (§6.2): a silent one first -------------------
    def c27():
        ctx, server_key, endpoint = A.ctx, A.server_key, ",".join(A.endpoints)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        silent = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
        probe.close()                     # nothing listens there: a dead broker
        L = KinnetClient(ctx, f"{silent},{endpoint}", os.environ["KINNET_CERT"],
                         server_key, timeout_ms=1000)
        a = L.mmi_service("intake")
        expect(a == "200" and L.last_attempts == 2,
               f"first call -> {a} in {L.last_attempts} attempts, expected 200 in 2")
        a = L.mmi_service("intake")
        expect(a == "200" and L.last_attempts == 1,
               f"second call -> {a} in {L.last_attempts} attempts, expected 1")
        # refused by the live broker, then silence from the other: not every broker
        # refused, so the refusal costs no retry and the outcome is NoReply
        T = KinnetClient(ctx, f"{endpoint},{silent}", os.environ["KINNET_STRANGER_CERT"],
                         server_key, timeout_ms=1000, retries=0)
        try:
            T.mmi_service("intake")
            expect(False, "a list with a refusing broker and a silent one answered")
        except NoReply:
            expect(T.last_attempts == 2, f"{T.last_attempts} attempts, expected 2")
        for bad in (f"{endpoint},", f"{endpoint}, {silent}", "udp://127.0.0.1:1"):
            try:
                KinnetClient(ctx, bad, os.environ["KINNET_CERT"], server_key)
                expect(False, f"list {bad!r} accepted")
            except ValueError:
                pass
        return ("silent broker first: 2 attempts, then 1; a refusal moves on; "
                "bad lists refused")
    run_check("27 broker list: move on after silence, stay with the one that answered",
              c27)

    for name, client in (("A", A), ("B", B)):
        if client.feed_unavailable:
            note(f"{len(client.feed_unavailable)} feed read(s) of {name} answered "
                 f"SERVICE_UNAVAILABLE and were read again (§13.13): "
                 f"{sorted(set(client.feed_unavailable))}")


if __name__ == "__main__":
    sys.exit(main())
