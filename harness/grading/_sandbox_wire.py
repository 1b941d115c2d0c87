"""The two sandboxed roles of one graded program and the pipe between them.

The host compiles this source with ``_sandbox_boot.py`` once and runs it twice per program:

* the **candidate** process runs the model's code, then serves the checker's requests: look up
  names, call functions, read attributes, iterate. Everything in it is reachable by the model's code
  (frames, memory, fds), so nothing in it attests anything.
* the **checker** process runs the benchmark's test part. Names the test uses but does not define
  are proxies (:class:`RemoteRef`) that call into the candidate over a pipe. Replies are decoded by
  :func:`decode`, a small tagged format of None, bool, int, float (nan/inf too), complex, str, bytes,
  list, tuple, dict, set, frozenset and opaque references, size- and depth-bounded. Requests use the
  same format, or pickle for arguments it has no tag for (the checker is trusted; pickle is only
  imported then: it costs ~5 ms a process). Anything else, a lost candidate, garbage or a forged frame is
  :class:`CandidateLost`, which the test cannot swallow: the checker then exits 4.

The verdict is the checker's exit status (0 = every test statement ran). The host imports this
module only to test the codec; it runs nothing at import.
"""
import builtins
import os
import struct
import sys

MAX_REPLY = 8 << 20  # bytes of one reply: a candidate cannot flood the checker
MAX_DEPTH = 100      # nesting of one decoded value
CHECKER_LOST = 4     # exit status: the candidate broke the protocol or went away
_LEN = struct.Struct(">I")
_REF = struct.Struct(">Q")
_F64 = struct.Struct(">d")


class ProtocolError(Exception):
    """A reply the checker cannot accept."""


class CandidateLost(BaseException):
    """The candidate went away or broke the protocol (BaseException: ``except Exception`` in a
    test does not hide it, and the checker remembers it anyway)."""


class CandidateError(Exception):
    """The candidate raised an exception that is not a builtin one."""


# ---------------------------------------------------------------------------------------------
# frames

def read_frame(fd: int, limit: int) -> bytes:
    size = _LEN.unpack(_read_exact(fd, _LEN.size))[0]
    if size > limit:
        raise ProtocolError(f"reply of {size} bytes (limit {limit})")
    return _read_exact(fd, size)


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, data: bytes) -> None:
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------------------------------------
# values: encode (candidate side, untrusted) and decode (checker side, trusted)

def _encode_str(s: str, out: bytearray) -> None:
    data = s.encode("utf-8", "surrogatepass")
    out += _LEN.pack(len(data)) + data


def encode(value, out: bytearray, ref_of, depth: int = 0) -> None:
    """Append ``value``. What the format has no tag for goes through ``ref_of(value)``, which
    returns (reference id, type or module name, is a module) or raises."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply to send")
    if value is None or value is True or value is False:
        out += {None: b"N", True: b"T", False: b"F"}[value]
    elif isinstance(value, (int, float, complex, str, bytes, bytearray)):
        _encode_scalar(value, out)
    elif isinstance(value, (list, tuple, set, frozenset)):
        out += (b"l" if isinstance(value, list) else b"t" if isinstance(value, tuple)
                else b"S" if isinstance(value, set) else b"z") + _LEN.pack(len(value))
        for item in list(value):
            encode(item, out, ref_of, depth + 1)
    elif isinstance(value, dict):
        out += b"d" + _LEN.pack(len(value))
        for key, item in list(value.items()):
            encode(key, out, ref_of, depth + 1)
            encode(item, out, ref_of, depth + 1)
    elif _numpy_scalar(value):
        encode(value.item(), out, ref_of, depth)
    else:
        rid, name, module = ref_of(value)
        out += (b"M" if module else b"r") + _REF.pack(rid)
        _encode_str(name, out)


def _encode_scalar(value, out: bytearray) -> None:
    if isinstance(value, bool):
        out += b"T" if value else b"F"
    elif isinstance(value, int):
        number = int(value)
        data = number.to_bytes(number.bit_length() // 8 + 1, "big", signed=True)
        out += b"i" + _LEN.pack(len(data)) + data
    elif isinstance(value, float):
        out += b"f" + _F64.pack(float(value))
    elif isinstance(value, complex):
        out += b"c" + _F64.pack(value.real) + _F64.pack(value.imag)
    elif isinstance(value, str):
        out += b"s"
        _encode_str(str(value), out)
    else:
        out += b"b" + _LEN.pack(len(value)) + bytes(value)


def _numpy_scalar(value) -> bool:
    """numpy's scalars (np.int64(3) == 3 in the in-process runners, so they travel as numbers)."""
    return type(value).__module__ == "numpy" and getattr(value, "shape", None) == () and hasattr(value, "item")


def decode(data: bytes, make_ref):
    """The value in ``data``; ``make_ref(id, type name, is_module)`` builds a reference."""
    value, pos = _decode(memoryview(data), 0, 0, make_ref)
    if pos != len(data):
        raise ProtocolError("trailing bytes after the value")
    return value


def _take(buf: memoryview, pos: int, n: int) -> tuple[bytes, int]:
    if n < 0 or pos + n > len(buf):
        raise ProtocolError("value cut short")
    return bytes(buf[pos:pos + n]), pos + n


def _decode(buf: memoryview, pos: int, depth: int, make_ref):
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    tag, pos = _take(buf, pos, 1)
    if tag in (b"N", b"T", b"F"):
        return {b"N": None, b"T": True, b"F": False}[tag], pos
    if tag == b"f":
        raw, pos = _take(buf, pos, 8)
        return _F64.unpack(raw)[0], pos
    if tag == b"c":
        raw, pos = _take(buf, pos, 16)
        return complex(*struct.unpack(">dd", raw)), pos
    if tag in (b"r", b"M"):
        raw, pos = _take(buf, pos, _REF.size)
        name, pos = _decode_str(buf, pos)
        return make_ref(_REF.unpack(raw)[0], name, tag == b"M"), pos
    raw, pos = _take(buf, pos, _LEN.size)
    n = _LEN.unpack(raw)[0]
    if tag == b"i":
        raw, pos = _take(buf, pos, n)
        return int.from_bytes(raw, "big", signed=True), pos
    if tag in (b"s", b"b"):
        raw, pos = _take(buf, pos, n)
        return (_text(raw) if tag == b"s" else raw), pos
    if tag not in (b"l", b"t", b"S", b"z", b"d") or n > len(buf) - pos:  # an item is >= 1 byte
        raise ProtocolError(f"unknown tag {tag!r} or count past the end")
    items = []
    for _ in range(n * (2 if tag == b"d" else 1)):
        item, pos = _decode(buf, pos, depth + 1, make_ref)
        items.append(item)
    try:
        if tag == b"d":
            return dict(zip(items[::2], items[1::2])), pos
        return {b"l": list, b"t": tuple, b"S": set, b"z": frozenset}[tag](items), pos
    except TypeError as exc:  # an unhashable key or member
        raise ProtocolError(str(exc)) from None


def _decode_str(buf: memoryview, pos: int) -> tuple[str, int]:
    raw, pos = _take(buf, pos, _LEN.size)
    raw, pos = _take(buf, pos, _LEN.unpack(raw)[0])
    return _text(raw), pos


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise ProtocolError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# candidate: run the model's code, then answer requests until the checker closes the pipe

def serve(namespace: dict, req_fd: int, rep_fd: int) -> None:
    refs: list = []

    def keep(value) -> tuple:  # what cannot travel stays here, named by its index
        refs.append(value)
        module = type(value).__name__ == "module"
        return len(refs) - 1, str(getattr(value, "__name__", "")) if module else type(value).__name__, module

    while True:
        try:
            frame = read_frame(req_fd, 1 << 62)
        except (EOFError, OSError):
            return
        out = bytearray(b"R")
        try:
            op, *args = _request(frame, refs)
            encode(_answer(op, args, namespace, refs), out, keep)
        except BaseException as exc:  # noqa: BLE001 - the candidate's error is the checker's to judge
            out = bytearray(b"E")
            _encode_str(type(exc).__name__, out)
            _encode_str(_message(exc), out)
        write_frame(rep_fd, bytes(out))


def _request(frame: bytes, refs: list) -> tuple:
    if frame[:1] == b"Q":
        return decode(frame[1:], lambda rid, name, module: refs[rid])
    import io
    import pickle

    unpickler = pickle.Unpickler(io.BytesIO(frame[1:]))
    unpickler.persistent_load = lambda rid: refs[rid]
    return unpickler.load()


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:2000]
    except Exception:  # noqa: BLE001 - a __str__ that raises
        return ""


def _answer(op: str, args: list, namespace: dict, refs: list):
    if op == "resolve":
        return {name: namespace[name] for name in args[0] if name in namespace}
    target = refs[args[0]]
    if op == "call":
        return target(*args[1], **args[2])
    if op == "getattr":
        return getattr(target, args[1])
    if op == "iter":
        return iter(target)  # an iterator has no tag: it travels as a reference
    if op == "next":
        return next(target)
    if op == "len":
        return len(target)
    if op == "getitem":
        return target[args[1]]
    raise ValueError(f"unknown request {op!r}")


# ---------------------------------------------------------------------------------------------
# checker: the test part, with the candidate's names as proxies

class RemoteRef:
    """An object that lives in the candidate. It can be called, asked for attributes, items and
    its length, iterated, and passed back to the candidate; it has no value the checker could
    compare, hash or test for truth."""

    __slots__ = ("_rid", "_kind", "_client")

    def __init__(self, client, rid: int, kind: str):
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_rid", rid)
        object.__setattr__(self, "_kind", kind)

    def __call__(self, *args, **kwargs):
        return self._client.ask("call", self._rid, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._client.ask("getattr", self._rid, name)

    def __iter__(self):
        return self._client.ask("iter", self._rid)

    def __next__(self):
        return self._client.ask("next", self._rid)

    def __len__(self) -> int:
        n = self._client.ask("len", self._rid)
        if type(n) is not int:
            raise TypeError("len() of a candidate object is not an int")
        return n

    def __getitem__(self, key):
        return self._client.ask("getitem", self._rid, key)

    def _opaque(self, *_):
        raise TypeError(f"a {self._kind} object from the candidate has no value the test can use")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __hash__ = _opaque

    def __repr__(self) -> str:
        return f"<candidate {self._kind}>"


class Client:
    """The checker's end of the pipe. Once the candidate broke the protocol, every request fails."""

    def __init__(self, req_fd: int, rep_fd: int):
        self.req_fd, self.rep_fd, self.lost = req_fd, rep_fd, ""

    def ask(self, op: str, *args):
        if self.lost:
            raise CandidateLost(self.lost)
        request = _request_frame((op, *args))  # unsendable arguments fail the test, not the protocol
        try:
            write_frame(self.req_fd, request)
            error, value = self._reply(read_frame(self.rep_fd, MAX_REPLY))
        except (EOFError, OSError, ProtocolError) as exc:
            self.lose(f"{type(exc).__name__}: {exc}")
        if error is not None:
            raise error
        return value

    def lose(self, why: str):
        self.lost = self.lost or f"candidate process lost ({why})"
        raise CandidateLost(self.lost)

    def _reply(self, reply: bytes) -> tuple:
        """(None, value) or (the candidate's exception, None)."""
        if reply[:1] == b"R":
            return None, decode(reply[1:], self._ref)
        if reply[:1] != b"E":
            raise ProtocolError(f"reply kind {reply[:1]!r}")
        buf = memoryview(reply)
        name, pos = _decode_str(buf, 1)
        message, pos = _decode_str(buf, pos)
        if pos != len(reply):
            raise ProtocolError("trailing bytes after an error")
        return _exception(name, message), None

    def _ref(self, rid: int, name: str, module: bool) -> RemoteRef:
        return RemoteRef(self, rid, f"module {name}" if module else name)


def _remote_id(value) -> tuple:
    if type(value) is RemoteRef:
        return value._rid, "", False
    raise TypeError(f"no tag for {type(value).__name__}")


def _request_frame(request: tuple) -> bytes:
    """The tagged format where it can carry the arguments, else pickle (references by id)."""
    out = bytearray(b"Q")
    try:
        encode(request, out, _remote_id)
        return bytes(out)
    except (TypeError, ValueError):
        import io
        import pickle

        buf = io.BytesIO()
        buf.write(b"P")
        pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = lambda obj: obj._rid if type(obj) is RemoteRef else None
        pickler.dump(request)
        return buf.getvalue()


def _exception(name: str, message: str) -> Exception:
    """The candidate's exception as the test sees it: a builtin class where the name is one
    (so ``except ValueError`` in a test works), else CandidateError."""
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:  # noqa: BLE001 - classes needing more arguments (UnicodeDecodeError)
            pass
    return CandidateError(f"{name}: {message}")


def bind(client: Client, names: list) -> dict:
    """The candidate's values for the test's free names. A stdlib module the candidate imported
    is imported here (the checker's own copy); a name of a stdlib module bound to anything else
    stays unbound."""
    values = client.ask("resolve", list(names))
    if type(values) is not dict:
        client.lose("it answered the name lookup with no table")
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    bound = {}
    for name in names:
        value = values.get(name, bound)
        module = type(value) is RemoteRef and value._kind.startswith("module ")
        if module and value._kind[7:].partition(".")[0] in stdlib:
            __import__(value._kind[7:])
            value = sys.modules[value._kind[7:]]
        elif name in stdlib and not hasattr(value, "__spec__"):
            continue
        if value is not bound:
            bound[name] = value
    return bound

