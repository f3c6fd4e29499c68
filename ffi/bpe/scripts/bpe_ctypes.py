"""Minimal ctypes binding of libnanochat_bpe.so for the verification scripts
(the real bindings are the Deno ones). Exercises the C ABI as documented in
include/nanochat_bpe.h."""
import ctypes as C
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LIB = os.path.join(HERE, "..", "target", "release", "libnanochat_bpe.so")

_u8p = C.POINTER(C.c_uint8)
_u32p = C.POINTER(C.c_uint32)
_u64p = C.POINTER(C.c_uint64)


class BpeError(RuntimeError):
    pass


class Lib:
    def __init__(self, path=None):
        self.lib = lib = C.CDLL(path or DEFAULT_LIB)
        lib.bpe_last_error.restype = C.c_char_p
        lib.bpe_set_num_threads.argtypes = [C.c_uint32]
        lib.bpe_trainer_new.argtypes = [C.c_char_p, C.c_size_t, C.POINTER(C.c_void_p)]
        lib.bpe_trainer_feed.argtypes = [C.c_void_p, C.c_char_p, _u64p, C.c_size_t]
        lib.bpe_trainer_train.argtypes = [C.c_void_p, C.c_uint32, C.c_char_p, C.c_size_t, C.POINTER(C.c_void_p)]
        lib.bpe_trainer_progress.argtypes = [C.c_void_p, _u64p, _u64p]
        lib.bpe_trainer_progress.restype = None
        lib.bpe_trainer_free.argtypes = [C.c_void_p]
        lib.bpe_trainer_free.restype = None
        lib.bpe_tokenizer_save.argtypes = [C.c_void_p, C.c_char_p, C.c_size_t]
        lib.bpe_tokenizer_load.argtypes = [C.c_char_p, C.c_size_t, C.POINTER(C.c_void_p)]
        lib.bpe_tokenizer_from_ranks.argtypes = [C.c_char_p, C.c_size_t, C.c_char_p, C.c_size_t, C.c_char_p, C.c_size_t, C.POINTER(C.c_void_p)]
        lib.bpe_tokenizer_free.argtypes = [C.c_void_p]
        lib.bpe_tokenizer_free.restype = None
        lib.bpe_vocab_size.argtypes = [C.c_void_p]
        lib.bpe_vocab_size.restype = C.c_uint32
        lib.bpe_encode.argtypes = [C.c_void_p, C.c_char_p, C.c_size_t, C.POINTER(_u32p), C.POINTER(C.c_size_t)]
        lib.bpe_encode_batch.argtypes = [C.c_void_p, C.c_char_p, _u64p, C.c_size_t, C.POINTER(_u32p), C.POINTER(C.c_size_t), C.POINTER(_u64p)]
        lib.bpe_decode.argtypes = [C.c_void_p, _u32p, C.c_size_t, C.POINTER(_u8p), C.POINTER(C.c_size_t)]
        lib.bpe_free_u32.argtypes = [_u32p, C.c_size_t]
        lib.bpe_free_u32.restype = None
        lib.bpe_free_u64.argtypes = [_u64p, C.c_size_t]
        lib.bpe_free_u64.restype = None
        lib.bpe_free_bytes.argtypes = [_u8p, C.c_size_t]
        lib.bpe_free_bytes.restype = None

    def check(self, rc):
        if rc != 0:
            raise BpeError(f"rc={rc}: {self.lib.bpe_last_error().decode()}")

    def set_num_threads(self, n):
        self.check(self.lib.bpe_set_num_threads(n))


def _pack(texts):
    blobs = [t.encode("utf-8") for t in texts]
    offs = (C.c_uint64 * (len(blobs) + 1))()
    pos = 0
    for i, b in enumerate(blobs):
        offs[i] = pos
        pos += len(b)
    offs[len(blobs)] = pos
    return b"".join(blobs), offs


class Trainer:
    def __init__(self, lib, pattern=""):
        self.L = lib
        self.h = C.c_void_p()
        p = pattern.encode()
        lib.check(lib.lib.bpe_trainer_new(p, len(p), C.byref(self.h)))

    def feed(self, texts):
        data, offs = _pack(texts)
        self.L.check(self.L.lib.bpe_trainer_feed(self.h, data, offs, len(texts)))

    def train(self, num_ranks, specials=()):
        s = "\n".join(specials).encode()
        out = C.c_void_p()
        self.L.check(self.L.lib.bpe_trainer_train(self.h, num_ranks, s, len(s), C.byref(out)))
        return Tokenizer(self.L, out)

    def __del__(self):
        if getattr(self, "h", None):
            self.L.lib.bpe_trainer_free(self.h)


class Tokenizer:
    def __init__(self, lib, handle):
        self.L, self.h = lib, handle

    @classmethod
    def load(cls, lib, path):
        p = path.encode()
        out = C.c_void_p()
        lib.check(lib.lib.bpe_tokenizer_load(p, len(p), C.byref(out)))
        return cls(lib, out)

    @classmethod
    def from_ranks(cls, lib, rank_bytes, pattern="", specials=()):
        pat = pattern.encode()
        s = "\n".join(specials).encode()
        out = C.c_void_p()
        lib.check(lib.lib.bpe_tokenizer_from_ranks(rank_bytes, len(rank_bytes), pat, len(pat), s, len(s), C.byref(out)))
        return cls(lib, out)

    def save(self, path):
        p = path.encode()
        self.L.check(self.L.lib.bpe_tokenizer_save(self.h, p, len(p)))

    def encode(self, text):
        b = text.encode("utf-8")
        ids, n = _u32p(), C.c_size_t()
        self.L.check(self.L.lib.bpe_encode(self.h, b, len(b), C.byref(ids), C.byref(n)))
        out = ids[: n.value]
        self.L.lib.bpe_free_u32(ids, n)
        return out

    def encode_batch(self, texts):
        data, offs = _pack(texts)
        ids, n, oo = _u32p(), C.c_size_t(), _u64p()
        self.L.check(self.L.lib.bpe_encode_batch(self.h, data, offs, len(texts), C.byref(ids), C.byref(n), C.byref(oo)))
        flat = ids[: n.value]
        o = oo[: len(texts) + 1]
        self.L.lib.bpe_free_u32(ids, n)
        self.L.lib.bpe_free_u64(oo, len(texts) + 1)
        return [flat[o[i] : o[i + 1]] for i in range(len(texts))]

    def decode(self, ids):
        arr = (C.c_uint32 * len(ids))(*ids)
        out, n = _u8p(), C.c_size_t()
        self.L.check(self.L.lib.bpe_decode(self.h, arr, len(ids), C.byref(out), C.byref(n)))
        b = C.string_at(out, n.value)
        self.L.lib.bpe_free_bytes(out, n)
        return b

    def __del__(self):
        if getattr(self, "h", None):
            self.L.lib.bpe_tokenizer_free(self.h)
