"""A float32 matrix product written out: packed panels and a 6 x 64 register tile.

    out[r0:r1, c0:c1] = op(a)[r0:r1, k0:k1] @ op(b)[k0:k1, c0:c1]

How a BLAS computes a product, in three loops and one micro-kernel:

1. The inner dimension is cut into chunks of ``KC`` (128) steps, so that
   what the innermost loop reads stays in the core's first-level cache.
2. For each chunk and each panel of 64 output columns, the slice of op(b)
   (KC, 64) is copied ("packed") into a contiguous scratch array: the
   micro-kernel then reads 256 consecutive bytes per step, whatever the
   layout of b (b^T included).
3. For each group of 6 output rows, the **micro-kernel** computes the 6 x 64
   tile of the output in 24 vector registers of 16 floats (AVX-512), over the
   chunk's KC steps k::

       for k in range(KC):
           b0..b3 = panel[k, 0:16], panel[k, 16:32], panel[k, 32:48], panel[k, 48:64]
           for i in range(6):
               a_ik = broadcast(op(a)[i0 + i, k])           # 16 copies of one float
               acc[i][v] = fma(a_ik, b_v, acc[i][v])        # v = 0..3

   then stores the tile (the first chunk) or adds it to what is there (the
   next chunks).  24 fused multiply-adds per step for 4 vector loads and 6
   broadcasts: the arithmetic units, not the memory, set the pace.

The micro-kernel is emitted as LLVM vector IR (``<16 x float>`` and
``llvm.fma``) through a Numba ``@intrinsic``, which caches on disk like any
``@njit`` function; everything around it is ordinary Numba.  A group of
fewer than 6 rows, or a panel of fewer than 64 columns, is computed through
scratch arrays (the rows zero-padded, the tile copied out), with a kernel 16
columns wide when the panel has at most 16.

Measured on the 2-core AVX-512 machine, one thread, float32, against SciPy's
OpenBLAS 0.3.30 (``sgemm``, one thread) on the 12 products of a baby-GPT
Linear layer's forward and backward (768 rows; in/out 128, 384, 512): 0.80-0.97x
its time each, 0.87-0.94x in all over several runs.

Each output element is summed over k in order, one chunk after the other,
whatever the blocking of the output: the result does not depend on how the
rows and columns are shared out between threads.  Only float32, and only
where the CPU has AVX-512 (``available()``): elsewhere the pool calls BLAS.
"""
import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_JIT = dict(cache=True, error_model="numpy")

KC = 128                 # steps of the inner dimension per packed chunk
MR, NR = 6, 64           # the register tile: rows x columns (4 vectors of 16 floats)

_F32 = ir.FloatType()
_V16 = ir.VectorType(_F32, 16)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def available():
    """Whether the CPU Numba compiles for has AVX-512 (32 registers of 16 floats):
    the host's, unless NUMBA_CPU_NAME / NUMBA_CPU_FEATURES name another target
    (a portable cache for a generic CPU, say)."""
    import numba
    if numba.config.CPU_FEATURES:
        return "+avx512f" in numba.config.CPU_FEATURES.split(",")
    if numba.config.CPU_NAME not in (None, "host"):
        return False
    return bool(llvm.get_host_cpu_features().get("avx512f", False))


def _micro_kernel(nv, accumulate):
    """The micro-kernel for a tile of 6 rows x 16*nv columns, as an intrinsic:
    ``micro(a, a_off, sa_i, sa_k, panel, c, c_off, ldc, kc)`` computes
    c[i, j] (+)= sum over k < kc of a.flat[a_off + i*sa_i + k*sa_k] * panel[k, j]
    for i < 6, j < 16*nv (panel rows 64 floats apart, c rows ldc apart);
    ``accumulate`` adds to c instead of overwriting it."""

    @intrinsic
    def micro(typingctx, a, a_off, sa_i, sa_k, panel, c, c_off, ldc, kc):
        sig = types.void(a, types.intp, types.intp, types.intp, panel, c, types.intp, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            a_, a_off_, sa_i_, sa_k_, panel_, c_, c_off_, ldc_, kc_ = args

            def data(ty, value):
                return context.make_array(ty)(context, builder, value).data

            ap = builder.gep(data(signature.args[0], a_), [a_off_])
            bp = data(signature.args[4], panel_)
            cp = builder.gep(data(signature.args[5], c_), [c_off_])
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V16, [_V16] * 3),
                                                 "llvm.fma.v16f32")

            def vector_at(base, offset):
                return builder.bitcast(builder.gep(base, [offset]), _V16.as_pointer())

            def c_vector(i, v):                          # c[i, 16v : 16v + 16]
                return vector_at(cp, builder.add(builder.mul(ir.Constant(_I64, i), ldc_),
                                                 ir.Constant(_I64, 16 * v)))

            acc = [[cgutils.alloca_once(builder, _V16) for _ in range(nv)] for _ in range(MR)]
            for i in range(MR):
                for v in range(nv):
                    start = builder.load(c_vector(i, v), align=4) if accumulate \
                        else ir.Constant(_V16, [0.0] * 16)
                    builder.store(start, acc[i][v])
            splat = ir.Constant(ir.VectorType(_I32, 16), [0] * 16)
            with cgutils.for_range(builder, kc_) as loop:
                k = loop.index
                b_row = builder.mul(k, ir.Constant(_I64, NR))
                bv = [builder.load(vector_at(bp, builder.add(b_row, ir.Constant(_I64, 16 * v))), align=4)
                      for v in range(nv)]
                a_k = builder.mul(k, sa_k_)
                for i in range(MR):
                    a_ik = builder.load(builder.gep(ap, [builder.add(builder.mul(ir.Constant(_I64, i), sa_i_), a_k)]))
                    one = builder.insert_element(ir.Constant(_V16, None), a_ik, ir.Constant(_I32, 0))
                    a_vec = builder.shuffle_vector(one, ir.Constant(_V16, None), splat)   # 16 copies
                    for v in range(nv):
                        builder.store(builder.call(fma, [a_vec, bv[v], builder.load(acc[i][v])]), acc[i][v])
            for i in range(MR):
                for v in range(nv):
                    builder.store(builder.load(acc[i][v]), c_vector(i, v), align=4)
            return context.get_dummy_value()
        return sig, codegen
    return micro


_set64, _add64 = _micro_kernel(NR // 16, False), _micro_kernel(NR // 16, True)
_set16, _add16 = _micro_kernel(1, False), _micro_kernel(1, True)


@njit(**_JIT)
def _tile(first, narrow, a, a_off, sa_i, sa_k, panel, c, c_off, ldc, kc):
    """The micro-kernel, 64 columns wide (16 when ``narrow``): overwrite on a
    chunk's first pass (``first``), add on the next chunks."""
    if narrow:
        if first:
            _set16(a, a_off, sa_i, sa_k, panel, c, c_off, ldc, kc)
        else:
            _add16(a, a_off, sa_i, sa_k, panel, c, c_off, ldc, kc)
    elif first:
        _set64(a, a_off, sa_i, sa_k, panel, c, c_off, ldc, kc)
    else:
        _add64(a, a_off, sa_i, sa_k, panel, c, c_off, ldc, kc)


@njit(**_JIT)
def _edge_tile(first, a, a_off, sa_i, sa_k, rows, w, kc, panel, out, i0, j0, a_scratch, c_scratch):
    """A tile of fewer than 6 rows or 64 columns, through scratch: the rows of
    op(a) copied zero-padded into a_scratch (6, KC), the tile computed into
    c_scratch (6, 64) (16 columns wide when w <= 16), its valid part copied out."""
    src, off, si, sk = a, a_off, sa_i, sa_k
    if rows < MR:
        flat = a.reshape(-1)                                # a is C-contiguous: a view
        for i in range(MR):
            for k in range(kc):
                a_scratch[i, k] = flat[a_off + i * sa_i + k * sa_k] if i < rows else 0.0
        src, off, si, sk = a_scratch, 0, KC, 1
    if not first:
        for i in range(rows):
            for j in range(w):
                c_scratch[i, j] = out[i0 + i, j0 + j]
    _tile(first, w <= 16, src, off, si, sk, panel, c_scratch, 0, NR, kc)
    for i in range(rows):
        for j in range(w):
            out[i0 + i, j0 + j] = c_scratch[i, j]


@njit(**_JIT)
def _pack(b, trans_b, k0, kc, j0, w, panel):
    """panel[:kc, :w] <- op(b)[k0:k0 + kc, j0:j0 + w], the columns w..63 zeroed
    (op(b) = b (K, N), or b^T for b (N, K) with trans_b)."""
    if trans_b:
        for j in range(w):
            row = b[j0 + j]
            for k in range(kc):
                panel[k, j] = row[k0 + k]
    else:
        for k in range(kc):
            src, dst = b[k0 + k], panel[k]
            for j in range(w):
                dst[j] = src[j0 + j]
    if w < NR:
        for k in range(kc):
            for j in range(w, NR):
                panel[k, j] = 0.0


@njit(**_JIT)
def product(a, b, out, trans_a, trans_b, r0, r1, c0, c1, k0, k1):
    """out[r0:r1, c0:c1] = op(a)[r0:r1, k0:k1] @ op(b)[k0:k1, c0:c1] for
    C-contiguous float32 a (M, K) (or (K, M) with trans_a), b (K, N) (or
    (N, K) with trans_b), out (M, N); see the module docstring."""
    M, N = out.shape
    sa_i, sa_k = (1, a.shape[1]) if trans_a else (a.shape[1], 1)      # op(a)[i, k] = a.flat[i*sa_i + k*sa_k]
    if k1 <= k0:                                         # an empty sum
        out[r0:r1, c0:c1] = 0.0
        return
    panel = np.empty((KC, NR), np.float32)
    a_scratch, c_scratch = np.empty((MR, KC), np.float32), np.empty((MR, NR), np.float32)
    for kk in range(k0, k1, KC):
        kc = min(KC, k1 - kk)
        first = kk == k0
        for j0 in range(c0, c1, NR):
            w = min(NR, c1 - j0)
            _pack(b, trans_b, kk, kc, j0, w, panel)
            for i0 in range(r0, r1, MR):
                rows = min(MR, r1 - i0)
                a_off = i0 * sa_i + kk * sa_k
                if rows == MR and w == NR:
                    _tile(first, False, a, a_off, sa_i, sa_k, panel, out, i0 * N + j0, N, kc)
                else:
                    _edge_tile(first, a, a_off, sa_i, sa_k, rows, w, kc, panel, out, i0, j0,
                               a_scratch, c_scratch)
