/* gradstep._fused: single-pass optimizer updates and replay-kernel passes (see "replay
 * kernels" below) for float32 and float64 arrays.
 *
 * Optional accelerator of gradstep.optim (see optim/_kernels.py): every function performs,
 * element by element, exactly the operations of the NumPy reference (optim/sgd.py
 * sgd_update, optim/adam.py adam_update) in the same order, each rounded to the array's
 * dtype, so the results are bit-identical to the NumPy path. The scalars arrive as Python
 * floats (doubles) already combined the way the reference combines them (1 - dampening,
 * -lr, ...) and are rounded to the dtype once, as NumPy does with a Python float operand.
 * Build with -ffp-contract=off (no fused multiply-add) and without -ffast-math.
 *
 * Arrays are passed as objects supporting the buffer protocol (C-contiguous, writable
 * where updated), with an element range [lo, hi) so that several threads can update
 * disjoint ranges of the same arrays at once: the GIL is released during the loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>
#include <stdint.h>

/* 256-bit versions of some loops where the CPU has AVX2, chosen at run time. AVX2 alone
 * brings no fused multiply-add (and -ffp-contract=off forbids contracting anyway): the
 * wider loops compute every element exactly as the default ones. */
#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_AVX2_PATH 1
#define AVX2_FN __attribute__((target("avx2")))

static int avx2_allowed = 1; /* set_wide(False) turns the wide loops off (for tests) */

static int
cpu_has_avx2(void)
{
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return known && avx2_allowed;
}
#endif

PyDoc_STRVAR(set_wide_doc,
"set_wide(on) -> bool\n--\n\n"
"Whether the 256-bit (AVX2) loops may run where the CPU has them (they give the same\n"
"results as the default loops); returns whether they ran before the call. With on=None,\n"
"only returns whether they run.");

static PyObject *
fused_set_wide(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "set_wide() takes 1 argument");
        return NULL;
    }
#ifdef HAVE_AVX2_PATH
    int before = cpu_has_avx2();
    if (args[0] != Py_None) {
        int on = PyObject_IsTrue(args[0]);
        if (on < 0)
            return NULL;
        avx2_allowed = on;
    }
    return PyBool_FromLong(before);
#else
    (void)args;
    Py_RETURN_FALSE;
#endif
}

/* ------------------------------------------------------------------ SGD */

enum { SGD_NOMOM = 0, SGD_FIRST = 1, SGD_MOM = 2, SGD_SUTSKEVER = 3 };

typedef struct {
    double neg_lr, momentum, one_minus_damp, weight_decay, flush;
} sgd_scalars;

/* mode: SGD_NOMOM (p += -lr*d), SGD_FIRST (pytorch form, b = d), SGD_MOM (pytorch form,
 * b = b*m + d*(1-damp)), SGD_SUTSKEVER (b = b*m + d*(-lr)). */
#define SGD_BODY(T, FABS)                                                                    \
    const T nlr = (T)s->neg_lr, m = (T)s->momentum, omd = (T)s->one_minus_damp;              \
    const T wd = (T)s->weight_decay, thr = (T)s->flush;                                      \
    for (Py_ssize_t i = 0; i < n; i++) {                                                     \
        T d = g[i];                                                                          \
        if (MAX) d = -d;                                                                     \
        if (WD) d = d + p[i] * wd;                                                           \
        if (MODE == SGD_NOMOM) {                                                             \
            p[i] = p[i] + d * nlr;                                                           \
            continue;                                                                        \
        }                                                                                    \
        T bi;                                                                                \
        if (MODE == SGD_FIRST) bi = d;                                                       \
        else if (MODE == SGD_MOM) bi = b[i] * m + d * omd;                                   \
        else bi = b[i] * m + d * nlr;                                                        \
        if (FLUSH) bi = (FABS(bi) < thr) ? (T)0 : bi;                                         \
        b[i] = bi;                                                                           \
        if (MODE == SGD_SUTSKEVER) {                                                         \
            if (NEST) p[i] = (p[i] + bi * m) + d * nlr;                                      \
            else p[i] = p[i] + bi;                                                           \
        } else {                                                                             \
            if (NEST) p[i] = p[i] + (d + bi * m) * nlr;                                      \
            else p[i] = p[i] + bi * nlr;                                                     \
        }                                                                                    \
    }

static inline __attribute__((always_inline)) void
sgd_f32(float *p, const float *g, float *b, Py_ssize_t n, const sgd_scalars *s,
        const int MAX, const int WD, const int MODE, const int NEST, const int FLUSH)
{
    SGD_BODY(float, fabsf)
}

static inline __attribute__((always_inline)) void
sgd_f64(double *p, const double *g, double *b, Py_ssize_t n, const sgd_scalars *s,
        const int MAX, const int WD, const int MODE, const int NEST, const int FLUSH)
{
    SGD_BODY(double, fabs)
}

/* One specialised loop per flag combination (the flags are compile-time constants in each,
 * so every loop is branch-free and vectorised). Index: ((((MAX*2+WD)*4+MODE)*2+NEST)*2+FLUSH. */
typedef void (*sgd_fn)(void *, const void *, void *, Py_ssize_t, const sgd_scalars *);

#define GEN1(a, b_, c, d, e)                                                                 \
    static void sgd32_##a##b_##c##d##e(void *p, const void *g, void *b, Py_ssize_t n,        \
                                       const sgd_scalars *s)                                 \
    { sgd_f32((float *)p, (const float *)g, (float *)b, n, s, a, b_, c, d, e); }             \
    static void sgd64_##a##b_##c##d##e(void *p, const void *g, void *b, Py_ssize_t n,        \
                                       const sgd_scalars *s)                                 \
    { sgd_f64((double *)p, (const double *)g, (double *)b, n, s, a, b_, c, d, e); }
#define GEN2(a, b_, c, d) GEN1(a, b_, c, d, 0) GEN1(a, b_, c, d, 1)
#define GEN3(a, b_, c) GEN2(a, b_, c, 0) GEN2(a, b_, c, 1)
#define GEN4(a, b_) GEN3(a, b_, 0) GEN3(a, b_, 1) GEN3(a, b_, 2) GEN3(a, b_, 3)
#define GEN5(a) GEN4(a, 0) GEN4(a, 1)
GEN5(0)
GEN5(1)

#ifdef HAVE_AVX2_PATH
#undef GEN1
#define GEN1(a, b_, c, d, e)                                                                 \
    AVX2_FN static void sgd32x_##a##b_##c##d##e(void *p, const void *g, void *b,              \
                                                Py_ssize_t n, const sgd_scalars *s)          \
    { sgd_f32((float *)p, (const float *)g, (float *)b, n, s, a, b_, c, d, e); }             \
    AVX2_FN static void sgd64x_##a##b_##c##d##e(void *p, const void *g, void *b,              \
                                                Py_ssize_t n, const sgd_scalars *s)          \
    { sgd_f64((double *)p, (const double *)g, (double *)b, n, s, a, b_, c, d, e); }
GEN5(0)
GEN5(1)
#endif

#define TAB1(w, a, b_, c, d) &sgd##w##_##a##b_##c##d##0, &sgd##w##_##a##b_##c##d##1,
#define TAB2(w, a, b_, c) TAB1(w, a, b_, c, 0) TAB1(w, a, b_, c, 1)
#define TAB3(w, a, b_) TAB2(w, a, b_, 0) TAB2(w, a, b_, 1) TAB2(w, a, b_, 2) TAB2(w, a, b_, 3)
#define TAB4(w, a) TAB3(w, a, 0) TAB3(w, a, 1)
#define TAB5(w) TAB4(w, 0) TAB4(w, 1)

static const sgd_fn SGD32[64] = {TAB5(32)};
static const sgd_fn SGD64[64] = {TAB5(64)};
#ifdef HAVE_AVX2_PATH
static const sgd_fn SGD32X[64] = {TAB5(32x)};
static const sgd_fn SGD64X[64] = {TAB5(64x)};
#endif

/* ------------------------------------------------------------------ Adam */

typedef struct {
    double one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
    double weight_decay, decay_factor;
} adam_scalars;

/* WD: 0 none, 1 coupled (g += wd*p), 2 decoupled (p *= 1 - lr*wd). */
#define ADAM_BODY(T, SQRT)                                                                   \
    const T omb1 = (T)s->one_minus_beta1, b2 = (T)s->beta2, omb2 = (T)s->one_minus_beta2;   \
    const T bc2 = (T)s->bc2_sqrt, eps = (T)s->eps, nss = (T)s->neg_step_size;                \
    const T wd = (T)s->weight_decay, df = (T)s->decay_factor;                                \
    for (Py_ssize_t i = 0; i < n; i++) {                                                     \
        T gi = g[i];                                                                         \
        if (MAX) gi = -gi;                                                                   \
        T pi = p[i];                                                                         \
        if (WD == 2) pi = pi * df;                                                           \
        else if (WD == 1) gi = gi + pi * wd;                                                 \
        T mi = m[i];                                                                         \
        mi = mi + (gi - mi) * omb1;                                                          \
        m[i] = mi;                                                                           \
        T vi = v[i] * b2 + (gi * gi) * omb2;                                                 \
        v[i] = vi;                                                                           \
        if (AMS) {                                                                           \
            T x = vmax[i];                                                                   \
            x = (x > vi || x != x) ? x : vi;                                                 \
            vmax[i] = x;                                                                     \
            vi = x;                                                                          \
        }                                                                                    \
        T den = SQRT(vi) / bc2 + eps;                                                        \
        p[i] = pi + (mi / den) * nss;                                                        \
    }

static inline __attribute__((always_inline)) void
adam_f32(float *p, const float *g, float *m, float *v, float *vmax, Py_ssize_t n,
         const adam_scalars *s, const int MAX, const int WD, const int AMS)
{
    ADAM_BODY(float, sqrtf)
}

static inline __attribute__((always_inline)) void
adam_f64(double *p, const double *g, double *m, double *v, double *vmax, Py_ssize_t n,
         const adam_scalars *s, const int MAX, const int WD, const int AMS)
{
    ADAM_BODY(double, sqrt)
}

typedef void (*adam_fn)(void *, const void *, void *, void *, void *, Py_ssize_t,
                        const adam_scalars *);

#define AGEN1(a, b_, c)                                                                      \
    static void adam32_##a##b_##c(void *p, const void *g, void *m, void *v, void *x,        \
                                  Py_ssize_t n, const adam_scalars *s)                       \
    { adam_f32((float *)p, (const float *)g, (float *)m, (float *)v, (float *)x, n, s,       \
               a, b_, c); }                                                                  \
    static void adam64_##a##b_##c(void *p, const void *g, void *m, void *v, void *x,        \
                                  Py_ssize_t n, const adam_scalars *s)                       \
    { adam_f64((double *)p, (const double *)g, (double *)m, (double *)v, (double *)x, n, s,  \
               a, b_, c); }
#define AGEN2(a, b_) AGEN1(a, b_, 0) AGEN1(a, b_, 1)
#define AGEN3(a) AGEN2(a, 0) AGEN2(a, 1) AGEN2(a, 2)
AGEN3(0)
AGEN3(1)

#ifdef HAVE_AVX2_PATH
#undef AGEN1
#define AGEN1(a, b_, c)                                                                      \
    AVX2_FN static void adam32x_##a##b_##c(void *p, const void *g, void *m, void *v,          \
                                           void *x, Py_ssize_t n, const adam_scalars *s)     \
    { adam_f32((float *)p, (const float *)g, (float *)m, (float *)v, (float *)x, n, s,       \
               a, b_, c); }                                                                  \
    AVX2_FN static void adam64x_##a##b_##c(void *p, const void *g, void *m, void *v,          \
                                           void *x, Py_ssize_t n, const adam_scalars *s)     \
    { adam_f64((double *)p, (const double *)g, (double *)m, (double *)v, (double *)x, n, s,  \
               a, b_, c); }
AGEN3(0)
AGEN3(1)
#endif

#define ATAB1(w, a, b_) &adam##w##_##a##b_##0, &adam##w##_##a##b_##1,
#define ATAB2(w, a) ATAB1(w, a, 0) ATAB1(w, a, 1) ATAB1(w, a, 2)
#define ATAB3(w) ATAB2(w, 0) ATAB2(w, 1)
/* index: (MAX*3 + WD)*2 + AMS */
static const adam_fn ADAM32[12] = {ATAB3(32)};
static const adam_fn ADAM64[12] = {ATAB3(64)};
#ifdef HAVE_AVX2_PATH
static const adam_fn ADAM32X[12] = {ATAB3(32x)};
static const adam_fn ADAM64X[12] = {ATAB3(64x)};
#endif

/* ------------------------------------------------------------------ argument handling */

#define MAXBUF 5

/* The element kind of a buffer: 'f' (float32), 'd' (float64) or 0 (anything else). */
static char
buffer_kind(const Py_buffer *v)
{
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=')
        f++;
#if PY_LITTLE_ENDIAN
    else if (*f == '<')
        f++;
#else
    else if (*f == '>' || *f == '!')
        f++;
#endif
    if (f[0] == 'f' && f[1] == 0 && v->itemsize == 4)
        return 'f';
    if (f[0] == 'd' && f[1] == 0 && v->itemsize == 8)
        return 'd';
    return 0;
}

typedef struct {
    Py_buffer views[MAXBUF];
    int got[MAXBUF];
    char *ptr[MAXBUF];
    char kind;
} bufset;

static void
bufset_release(bufset *bs)
{
    for (int i = 0; i < MAXBUF; i++)
        if (bs->got[i])
            PyBuffer_Release(&bs->views[i]);
}

/* Acquire objs[0..k) (None allowed where optional[i]); all C-contiguous, of one float kind,
 * with at least hi elements; writable[i] says which are updated. Returns 0 or -1 (error
 * set, everything released). */
static int
bufset_get(bufset *bs, PyObject *const *objs, int k, const int *writable, const int *optional,
           Py_ssize_t lo, Py_ssize_t hi)
{
    memset(bs, 0, sizeof(*bs));
    if (lo < 0 || hi < lo) {
        PyErr_SetString(PyExc_ValueError, "_fused: bad element range");
        return -1;
    }
    for (int i = 0; i < k; i++) {
        if (objs[i] == Py_None) {
            if (!optional[i]) {
                PyErr_Format(PyExc_TypeError, "_fused: array %d must not be None", i);
                goto fail;
            }
            continue;
        }
        int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable[i] ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(objs[i], &bs->views[i], flags) < 0)
            goto fail;
        bs->got[i] = 1;
        char kind = buffer_kind(&bs->views[i]);
        if (!kind) {
            PyErr_Format(PyExc_TypeError, "_fused: array %d is not float32 or float64", i);
            goto fail;
        }
        if (bs->kind && kind != bs->kind) {
            PyErr_Format(PyExc_TypeError, "_fused: array %d has another dtype than array 0", i);
            goto fail;
        }
        bs->kind = kind;
        Py_ssize_t size = bs->views[i].len / bs->views[i].itemsize;
        if (size < hi) {
            PyErr_Format(PyExc_ValueError, "_fused: array %d has %zd elements, range ends at %zd",
                         i, size, hi);
            goto fail;
        }
        bs->ptr[i] = (char *)bs->views[i].buf + lo * bs->views[i].itemsize;
    }
    if (!bs->kind) {
        PyErr_SetString(PyExc_TypeError, "_fused: no array given");
        goto fail;
    }
    return 0;
fail:
    bufset_release(bs);
    return -1;
}

static int
get_ssize(PyObject *o, Py_ssize_t *out)
{
    *out = PyLong_AsSsize_t(o);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
get_doubles(PyObject *const *args, int k, double *out)
{
    for (int i = 0; i < k; i++) {
        out[i] = PyFloat_AsDouble(args[i]);
        if (out[i] == -1.0 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

PyDoc_STRVAR(sgd_doc,
"sgd(p, g, buf, lo, hi, neg_lr, momentum, one_minus_dampening, weight_decay, flush_below,\n"
"    flags)\n--\n\n"
"One SGD step on elements [lo, hi) of the arrays p, g, buf (buf None without momentum),\n"
"in place, bit-identical to gradstep.optim.sgd_update. flags: bit 0 maximize,\n"
"bit 1 weight decay, bits 2-3 mode (0 no momentum, 1 first step, 2 momentum,\n"
"3 sutskever), bit 4 nesterov, bit 5 flush (entries of buf with |b| < flush_below -> 0).");

static PyObject *
fused_sgd(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 11) {
        PyErr_Format(PyExc_TypeError, "sgd() takes 11 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_ssize_t lo, hi;
    sgd_scalars s;
    double sc[5];
    long flags;
    if (get_ssize(args[3], &lo) < 0 || get_ssize(args[4], &hi) < 0 || get_doubles(args + 5, 5, sc) < 0)
        return NULL;
    flags = PyLong_AsLong(args[10]);
    if (flags == -1 && PyErr_Occurred())
        return NULL;
    if (flags < 0 || flags > 63) {
        PyErr_SetString(PyExc_ValueError, "sgd: flags out of range");
        return NULL;
    }
    s.neg_lr = sc[0];
    s.momentum = sc[1];
    s.one_minus_damp = sc[2];
    s.weight_decay = sc[3];
    s.flush = sc[4];
    int mode = (int)((flags >> 2) & 3);
    int idx = (int)(((((flags & 1) * 2 + ((flags >> 1) & 1)) * 4 + mode) * 2 + ((flags >> 4) & 1)) * 2
                    + ((flags >> 5) & 1));
    int writable[3] = {1, 0, 1};
    int optional[3] = {0, 0, mode == SGD_NOMOM};
    bufset bs;
    if (bufset_get(&bs, args, 3, writable, optional, lo, hi) < 0)
        return NULL;
    if (mode != SGD_NOMOM && !bs.got[2]) {
        bufset_release(&bs);
        PyErr_SetString(PyExc_TypeError, "sgd: buf is required with momentum");
        return NULL;
    }
    sgd_fn fn = bs.kind == 'f' ? SGD32[idx] : SGD64[idx];
#ifdef HAVE_AVX2_PATH
    if (cpu_has_avx2())
        fn = bs.kind == 'f' ? SGD32X[idx] : SGD64X[idx];
#endif
    Py_ssize_t n = hi - lo;
    Py_BEGIN_ALLOW_THREADS
    fn(bs.ptr[0], bs.ptr[1], bs.ptr[2], n, &s);
    Py_END_ALLOW_THREADS
    bufset_release(&bs);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(adam_doc,
"adam(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, lo, hi, one_minus_beta1, beta2,\n"
"     one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size, weight_decay,\n"
"     decay_factor, flags)\n--\n\n"
"One Adam step on elements [lo, hi), in place, bit-identical to\n"
"gradstep.optim.adam_update. flags: bit 0 maximize, bits 1-2 weight decay (0 none,\n"
"1 coupled, 2 decoupled: p *= decay_factor), bit 3 amsgrad (max_exp_avg_sq required).");

static PyObject *
fused_adam(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 16) {
        PyErr_Format(PyExc_TypeError, "adam() takes 16 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_ssize_t lo, hi;
    double sc[8];
    if (get_ssize(args[5], &lo) < 0 || get_ssize(args[6], &hi) < 0 || get_doubles(args + 7, 8, sc) < 0)
        return NULL;
    long flags = PyLong_AsLong(args[15]);
    if (flags == -1 && PyErr_Occurred())
        return NULL;
    int wdm = (int)((flags >> 1) & 3);
    if (flags < 0 || flags > 15 || wdm == 3) {
        PyErr_SetString(PyExc_ValueError, "adam: flags out of range");
        return NULL;
    }
    int ams = (int)((flags >> 3) & 1);
    adam_scalars s = {sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]};
    int writable[5] = {1, 0, 1, 1, 1};
    int optional[5] = {0, 0, 0, 0, !ams};
    bufset bs;
    if (bufset_get(&bs, args, 5, writable, optional, lo, hi) < 0)
        return NULL;
    int idx = ((int)(flags & 1) * 3 + wdm) * 2 + ams;
    adam_fn fn = bs.kind == 'f' ? ADAM32[idx] : ADAM64[idx];
#ifdef HAVE_AVX2_PATH
    if (cpu_has_avx2())
        fn = bs.kind == 'f' ? ADAM32X[idx] : ADAM64X[idx];
#endif
    Py_ssize_t n = hi - lo;
    Py_BEGIN_ALLOW_THREADS
    fn(bs.ptr[0], bs.ptr[1], bs.ptr[2], bs.ptr[3], bs.ptr[4], n, &s);
    Py_END_ALLOW_THREADS
    bufset_release(&bs);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ replay kernels
 *
 * Elementwise passes of the compiled training step (gradstep.jit._kernels): each performs
 * the operations of the kernel's NumPy calls in the same order, each rounded once to the
 * dtype, so the results are bit-identical (NaN payloads and signed zeros included, see
 * tests/jit/test_fused_kernels.py). exp/tanh/log and the reductions stay NumPy calls.
 *
 * Calling convention: every function returns True when it has done its work and False,
 * having written nothing and with no exception set, when its arrays do not fit (not
 * C-contiguous, not all float32 or all float64, not writable, sizes that do not match):
 * the caller then runs its NumPy code, which gives the same result or raises the error.
 * The GIL is released for loops of at least GIL_MIN elements (below that, the release costs
 * more than the loop). */

#define KMAX 4
#define GIL_MIN 16384

typedef struct {
    Py_buffer v[KMAX];
    int k;
    char kind;
    void *p[KMAX];
    Py_ssize_t n[KMAX];
} kbufs;

static void
kbufs_release(kbufs *b)
{
    for (int i = 0; i < b->k; i++)
        PyBuffer_Release(&b->v[i]);
    b->k = 0;
}

/* Acquire objs[0..k): all C-contiguous float32 or all float64; bit i of wmask: writable.
 * Returns 1, or 0 (nothing held, no exception set) when they do not fit. */
static int
kbufs_get(kbufs *b, PyObject *const *objs, int k, int wmask)
{
    b->k = 0;
    b->kind = 0;
    for (int i = 0; i < k; i++) {
        int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | ((wmask >> i) & 1 ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(objs[i], &b->v[i], flags) < 0) {
            PyErr_Clear();
            goto no;
        }
        b->k = i + 1;
        char kind = buffer_kind(&b->v[i]);
        if (!kind || (b->kind && kind != b->kind))
            goto no;
        b->kind = kind;
        b->p[i] = b->v[i].buf;
        b->n[i] = b->v[i].len / b->v[i].itemsize;
    }
    return 1;
no:
    kbufs_release(b);
    return 0;
}

/* The loops. T: the element type; every expression is written in the NumPy kernel's
 * operation order (compiled with -ffp-contract=off: no fused multiply-add). */

/* np.maximum(v, 0): NaN propagates (its bits kept), -0.0 gives +0.0 (NumPy's loops). */
#define RELU(T, v) ((((v) > (T)0) | ((v) != (v))) ? (v) : (T)0)
/* Written without && / || and with both arms computed, so that GCC turns the selects into
 * vector blends (a branch per element mispredicts on random signs: 15x slower). */

#define DEF_LOOPS(T, S)                                                                      \
    static void bias_##S(T *o, const T *b, Py_ssize_t rows, Py_ssize_t c, int relu)           \
    {                                                                                         \
        for (Py_ssize_t r = 0; r < rows; r++, o += c) {                                       \
            if (relu)                                                                         \
                for (Py_ssize_t j = 0; j < c; j++) {                                          \
                    T v = o[j] + b[j];                                                        \
                    o[j] = RELU(T, v);                                                        \
                }                                                                             \
            else                                                                              \
                for (Py_ssize_t j = 0; j < c; j++)                                            \
                    o[j] = o[j] + b[j];                                                       \
        }                                                                                     \
    }                                                                                         \
    static void bias_grad_##S(const T *g, T *o, Py_ssize_t rows, Py_ssize_t c)                \
    {                                                                                         \
        for (Py_ssize_t j = 0; j < c; j++)                                                    \
            o[j] = (T)0;                                                                      \
        for (Py_ssize_t r = 0; r < rows; r++, g += c)                                         \
            for (Py_ssize_t j = 0; j < c; j++)                                                \
                o[j] = o[j] + g[j];                                                           \
    }                                                                                         \
    static void relu_##S(const T *x, T *o, Py_ssize_t n)                                      \
    {                                                                                         \
        for (Py_ssize_t i = 0; i < n; i++) {                                                  \
            T v = x[i];                                                                       \
            o[i] = RELU(T, v);                                                                \
        }                                                                                     \
    }                                                                                         \
    static void relu_bwd_##S(T *g, const T *o, Py_ssize_t n)                                  \
    {                                                                                         \
        for (Py_ssize_t i = 0; i < n; i++)                                                    \
            g[i] = g[i] * (T)(o[i] > (T)0);                                                   \
    }                                                                                         \
    static void tanh_bwd_##S(T *g, const T *o, Py_ssize_t n)                                  \
    {                                                                                         \
        for (Py_ssize_t i = 0; i < n; i++)                                                    \
            g[i] = g[i] * ((T)1 - o[i] * o[i]);                                               \
    }                                                                                         \
    static void sigmoid_bwd_##S(T *g, const T *o, Py_ssize_t n)                               \
    {                                                                                         \
        for (Py_ssize_t i = 0; i < n; i++)                                                    \
            g[i] = (g[i] * o[i]) * ((T)1 - o[i]);                                             \
    }                                                                                         \
    static void neg_abs_##S(const T *x, T *e, Py_ssize_t n)                                   \
    {                                                                                         \
        for (Py_ssize_t i = 0; i < n; i++)                                                    \
            e[i] = -FABS_##S(x[i]);                                                           \
    }                                                                                         \
    static void sigmoid_sel_##S(const T *x, const T *e, T *o, Py_ssize_t n)                   \
    {                                                                                         \
        for (Py_ssize_t i = 0; i < n; i++) {                                                  \
            T d = (T)1 + e[i];                                                                \
            T pos = (T)1 / d, neg = e[i] / d;                                                 \
            o[i] = x[i] >= (T)0 ? pos : neg;                                                  \
        }                                                                                     \
    }                                                                                         \
    static void mse_##S(const T *x, const T *t, T *d, T *sq, Py_ssize_t n, double scale)      \
    {                                                                                         \
        const T s = (T)scale;                                                                 \
        for (Py_ssize_t i = 0; i < n; i++) {                                                  \
            T v = x[i] - t[i];                                                                \
            sq[i] = v * v;                                                                    \
            d[i] = v * s;                                                                     \
        }                                                                                     \
    }                                                                                         \
    static void ce_grad_##S(T *ex, const T *se, const Py_ssize_t *t, Py_ssize_t m,           \
                            Py_ssize_t c, int scaled, double scale)                           \
    {                                                                                         \
        const T s = (T)scale;                                                                 \
        for (Py_ssize_t r = 0; r < m; r++, ex += c) {                                         \
            const T den = se[r];                                                              \
            for (Py_ssize_t j = 0; j < c; j++)                                                \
                ex[j] = ex[j] / den;                                                          \
            ex[t[r]] = ex[t[r]] - (T)1;                                                       \
            if (scaled)                                                                       \
                for (Py_ssize_t j = 0; j < c; j++)                                            \
                    ex[j] = ex[j] * s;                                                        \
        }                                                                                     \
    }

#define FABS_f32 fabsf
#define FABS_f64 fabs
DEF_LOOPS(float, f32)
DEF_LOOPS(double, f64)

#define RUN(n, call)                                                                         \
    do {                                                                                      \
        if ((n) >= GIL_MIN) {                                                                 \
            Py_BEGIN_ALLOW_THREADS                                                            \
            call;                                                                             \
            Py_END_ALLOW_THREADS                                                              \
        } else {                                                                              \
            call;                                                                             \
        }                                                                                     \
    } while (0)

static int
nargs_is(const char *name, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs == want)
        return 1;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, want, nargs);
    return 0;
}

/* Two arrays of one size: g (updated) and o, or x and o (written). */
#define UNARY(NAME, WMASK, F32, F64)                                                         \
    static PyObject *fused_##NAME(PyObject *self, PyObject *const *args, Py_ssize_t nargs)   \
    {                                                                                         \
        (void)self;                                                                           \
        if (!nargs_is(#NAME, nargs, 2))                                                       \
            return NULL;                                                                      \
        kbufs b;                                                                              \
        if (!kbufs_get(&b, args, 2, WMASK))                                                   \
            Py_RETURN_FALSE;                                                                  \
        Py_ssize_t n = b.n[0];                                                                \
        if (b.n[1] != n) {                                                                    \
            kbufs_release(&b);                                                                \
            Py_RETURN_FALSE;                                                                  \
        }                                                                                     \
        if (b.kind == 'f')                                                                    \
            RUN(n, F32(b.p[0], b.p[1], n));                                                   \
        else                                                                                  \
            RUN(n, F64(b.p[0], b.p[1], n));                                                   \
        kbufs_release(&b);                                                                    \
        Py_RETURN_TRUE;                                                                       \
    }

UNARY(relu, 2, relu_f32, relu_f64)
UNARY(relu_bwd, 1, relu_bwd_f32, relu_bwd_f64)
UNARY(tanh_bwd, 1, tanh_bwd_f32, tanh_bwd_f64)
UNARY(sigmoid_bwd, 1, sigmoid_bwd_f32, sigmoid_bwd_f64)
UNARY(neg_abs, 2, neg_abs_f32, neg_abs_f64)

PyDoc_STRVAR(relu_doc, "relu(x, out) -> bool\n--\n\nout = np.maximum(x, 0).");
PyDoc_STRVAR(relu_bwd_doc, "relu_bwd(g, o) -> bool\n--\n\ng = g * (o > 0), in place.");
PyDoc_STRVAR(tanh_bwd_doc, "tanh_bwd(g, o) -> bool\n--\n\ng = g * (1 - o * o), in place.");
PyDoc_STRVAR(sigmoid_bwd_doc,
"sigmoid_bwd(g, o) -> bool\n--\n\ng = (g * o) * (1 - o), in place.");
PyDoc_STRVAR(neg_abs_doc, "neg_abs(x, e) -> bool\n--\n\ne = -np.abs(x).");

PyDoc_STRVAR(bias_doc,
"bias(out, b, relu) -> bool\n--\n\n"
"out += b (b: one row, broadcast over the rows of out), then out = np.maximum(out, 0)\n"
"when relu is true; in one pass, in place.");

static PyObject *
fused_bias(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!nargs_is("bias", nargs, 3))
        return NULL;
    int relu = PyObject_IsTrue(args[2]);
    if (relu < 0)
        return NULL;
    kbufs b;
    if (!kbufs_get(&b, args, 2, 1))
        Py_RETURN_FALSE;
    Py_ssize_t n = b.n[0], c = b.n[1];
    if (c == 0 ? n != 0 : n % c != 0) {
        kbufs_release(&b);
        Py_RETURN_FALSE;
    }
    Py_ssize_t rows = c ? n / c : 0;
    if (b.kind == 'f')
        RUN(n, bias_f32(b.p[0], b.p[1], rows, c, relu));
    else
        RUN(n, bias_f64(b.p[0], b.p[1], rows, c, relu));
    kbufs_release(&b);
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(bias_grad_doc,
"bias_grad(g, out) -> bool\n--\n\n"
"out = np.add.reduce(g, axis=0) for g of shape (rows, c), c = out.size >= 2: NumPy reduces\n"
"axis 0 of a C-contiguous array row by row, from its identity 0.0 (out = 0; out += g[0];\n"
"out += g[1]; ...), which this loop repeats. c == 1 is declined (NumPy sums one\n"
"contiguous column pairwise).");

static PyObject *
fused_bias_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!nargs_is("bias_grad", nargs, 2))
        return NULL;
    kbufs b;
    if (!kbufs_get(&b, args, 2, 2))
        Py_RETURN_FALSE;
    Py_ssize_t n = b.n[0], c = b.n[1];
    if (c < 2 || n % c != 0) {
        kbufs_release(&b);
        Py_RETURN_FALSE;
    }
    if (b.kind == 'f')
        RUN(n, bias_grad_f32(b.p[0], b.p[1], n / c, c));
    else
        RUN(n, bias_grad_f64(b.p[0], b.p[1], n / c, c));
    kbufs_release(&b);
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(sigmoid_sel_doc,
"sigmoid_sel(x, e, out) -> bool\n--\n\n"
"With e = exp(-|x|): out = 1 / (1 + e) where x >= 0, else e / (1 + e).");

static PyObject *
fused_sigmoid_sel(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!nargs_is("sigmoid_sel", nargs, 3))
        return NULL;
    kbufs b;
    if (!kbufs_get(&b, args, 3, 4))
        Py_RETURN_FALSE;
    Py_ssize_t n = b.n[0];
    if (b.n[1] != n || b.n[2] != n) {
        kbufs_release(&b);
        Py_RETURN_FALSE;
    }
    if (b.kind == 'f')
        RUN(n, sigmoid_sel_f32(b.p[0], b.p[1], b.p[2], n));
    else
        RUN(n, sigmoid_sel_f64(b.p[0], b.p[1], b.p[2], n));
    kbufs_release(&b);
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(mse_doc,
"mse(x, t, d, sq, scale) -> bool\n--\n\n"
"d = x - t; sq = d * d; d = d * scale (scale rounded to the dtype), in one pass.");

static PyObject *
fused_mse(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!nargs_is("mse", nargs, 5))
        return NULL;
    double scale = PyFloat_AsDouble(args[4]);
    if (scale == -1.0 && PyErr_Occurred())
        return NULL;
    kbufs b;
    if (!kbufs_get(&b, args, 4, 4 | 8))
        Py_RETURN_FALSE;
    Py_ssize_t n = b.n[0];
    if (b.n[1] != n || b.n[2] != n || b.n[3] != n) {
        kbufs_release(&b);
        Py_RETURN_FALSE;
    }
    if (b.kind == 'f')
        RUN(n, mse_f32(b.p[0], b.p[1], b.p[2], b.p[3], n, scale));
    else
        RUN(n, mse_f64(b.p[0], b.p[1], b.p[2], b.p[3], n, scale));
    kbufs_release(&b);
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(ce_grad_doc,
"ce_grad(ex, se, t, scale) -> bool\n--\n\n"
"Cross-entropy logit gradient in place in ex (m x c): ex = ex / se (se: m row sums);\n"
"ex[r, t[r]] -= 1 (t: m intp class indices in [0, c)); then ex *= scale unless scale\n"
"is None.");

static PyObject *
fused_ce_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!nargs_is("ce_grad", nargs, 4))
        return NULL;
    int scaled = args[3] != Py_None;
    double scale = 1.0;
    if (scaled) {
        scale = PyFloat_AsDouble(args[3]);
        if (scale == -1.0 && PyErr_Occurred())
            return NULL;
    }
    kbufs b;
    if (!kbufs_get(&b, args, 2, 1))
        Py_RETURN_FALSE;
    Py_buffer tv;
    if (PyObject_GetBuffer(args[2], &tv, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        kbufs_release(&b);
        Py_RETURN_FALSE;
    }
    const char *f = tv.format ? tv.format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    Py_ssize_t m = b.n[1], n = b.n[0];
    Py_ssize_t c = m ? n / m : 0;
    const Py_ssize_t *t = (const Py_ssize_t *)tv.buf;
    int ok = tv.itemsize == (Py_ssize_t)sizeof(Py_ssize_t) && f[1] == 0
             && (f[0] == 'l' || f[0] == 'q' || f[0] == 'n')
             && tv.len / tv.itemsize == m && (m ? n == m * c : n == 0);
    for (Py_ssize_t r = 0; ok && r < m; r++)
        ok = t[r] >= 0 && t[r] < c;
    if (ok) {
        if (b.kind == 'f')
            RUN(n, ce_grad_f32(b.p[0], b.p[1], t, m, c, scaled, scale));
        else
            RUN(n, ce_grad_f64(b.p[0], b.p[1], t, m, c, scaled, scale));
    }
    PyBuffer_Release(&tv);
    kbufs_release(&b);
    if (ok)
        Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

/* ---------------------------------------------------------------- metrics (fit's sums) */

PyDoc_STRVAR(abs_diff_sum_doc,
"abs_diff_sum(p, t) -> float | None\n--\n\n"
"sum |p - t| over all elements, differences and sum in double precision, in index order\n"
"(the numerator of the mean absolute error); None when the arrays do not fit.");

static PyObject *
fused_abs_diff_sum(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!nargs_is("abs_diff_sum", nargs, 2))
        return NULL;
    kbufs b;
    if (!kbufs_get(&b, args, 2, 0))
        Py_RETURN_NONE;
    Py_ssize_t n = b.n[0];
    if (b.n[1] != n) {
        kbufs_release(&b);
        Py_RETURN_NONE;
    }
    double acc = 0.0;
    if (b.kind == 'f') {
        const float *x = b.p[0], *y = b.p[1];
        for (Py_ssize_t i = 0; i < n; i++)
            acc += fabs((double)x[i] - (double)y[i]);
    } else {
        const double *x = b.p[0], *y = b.p[1];
        for (Py_ssize_t i = 0; i < n; i++)
            acc += fabs(x[i] - y[i]);
    }
    kbufs_release(&b);
    return PyFloat_FromDouble(acc);
}

PyDoc_STRVAR(correct_count_doc,
"correct_count(p, t, c) -> int | None\n--\n\n"
"The number of rows r of p (m x c scores) whose argmax (NumPy's: the first maximum, the\n"
"first NaN if any) equals the integer t[r] (t: m platform integers); None when the arrays\n"
"do not fit.");

#define ARGMAX(T)                                                                            \
    for (Py_ssize_t r = 0; r < m; r++) {                                                     \
        const T *row = (const T *)b.p[0] + r * c;                                            \
        Py_ssize_t best = 0;                                                                 \
        T mx = row[0];                                                                       \
        if (mx == mx)                                                                        \
            for (Py_ssize_t j = 1; j < c; j++) {                                             \
                T v = row[j];                                                                \
                if (v != v) {                                                                \
                    best = j;                                                                \
                    break;                                                                   \
                }                                                                            \
                if (v > mx) {                                                                \
                    mx = v;                                                                  \
                    best = j;                                                                \
                }                                                                            \
            }                                                                                \
        count += best == t[r];                                                               \
    }

static PyObject *
fused_correct_count(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!nargs_is("correct_count", nargs, 3))
        return NULL;
    Py_ssize_t c = PyLong_AsSsize_t(args[2]);
    if (c == -1 && PyErr_Occurred())
        return NULL;
    kbufs b;
    if (!kbufs_get(&b, args, 1, 0))
        Py_RETURN_NONE;
    Py_buffer tv;
    if (PyObject_GetBuffer(args[1], &tv, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        kbufs_release(&b);
        Py_RETURN_NONE;
    }
    const char *f = tv.format ? tv.format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    Py_ssize_t m = tv.len / (tv.itemsize ? tv.itemsize : 1), n = b.n[0];
    const Py_ssize_t *t = (const Py_ssize_t *)tv.buf;
    int ok = tv.itemsize == (Py_ssize_t)sizeof(Py_ssize_t) && f[1] == 0
             && (f[0] == 'l' || f[0] == 'q' || f[0] == 'n') && m > 0 && c > 1 && n == m * c;
    Py_ssize_t count = 0;
    if (ok) {
        if (b.kind == 'f') {
            ARGMAX(float)
        } else {
            ARGMAX(double)
        }
    }
    PyBuffer_Release(&tv);
    kbufs_release(&b);
    if (!ok)
        Py_RETURN_NONE;
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(all_finite_doc,
"all_finite(a) -> bool | None\n--\n\n"
"Whether every element of the float32/float64 array a is finite (no NaN, no infinity), by\n"
"the exponent bits in one vectorized pass; None when the array does not fit.");

/* Finiteness by the exponent bits: a float is finite when its exponent is not all ones. */
static int
finite32_generic(const uint32_t *u, Py_ssize_t n)
{
    /* without SSE4.1 an unsigned max is several instructions: OR the equality tests */
    uint32_t acc = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        acc |= (uint32_t)((u[i] & 0x7f800000u) == 0x7f800000u);
    return acc == 0;
}

static int
finite64_generic(const uint64_t *u, Py_ssize_t n)
{
    uint64_t acc = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        acc |= (uint64_t)((u[i] & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
    return acc == 0;
}

#ifdef HAVE_AVX2_PATH
/* the same tests on 256-bit vectors */
AVX2_FN static int
finite32_avx2(const uint32_t *u, Py_ssize_t n)
{
    /* the largest magnitude's bits (the sign masked off) stay below the exponent mask
       exactly when every element is finite: an unsigned max vectorizes to one instruction */
    uint32_t m = 0;
#pragma GCC unroll 4
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t t = u[i] & 0x7fffffffu;
        m = t > m ? t : m;
    }
    return m < 0x7f800000u;
}

AVX2_FN static int
finite64_avx2(const uint64_t *u, Py_ssize_t n)
{
    uint64_t acc = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        acc |= (uint64_t)((u[i] & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
    return acc == 0;
}
#endif

static PyObject *
fused_all_finite(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!nargs_is("all_finite", nargs, 1))
        return NULL;
    kbufs b;
    if (!kbufs_get(&b, args, 1, 0))
        Py_RETURN_NONE;
    Py_ssize_t n = b.n[0];
    int ok;
#ifdef HAVE_AVX2_PATH
    if (cpu_has_avx2())
        ok = b.kind == 'f' ? finite32_avx2(b.p[0], n) : finite64_avx2(b.p[0], n);
    else
#endif
        ok = b.kind == 'f' ? finite32_generic(b.p[0], n) : finite64_generic(b.p[0], n);
    kbufs_release(&b);
    if (!ok)
        Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

#define KM(name) \
    {#name, (PyCFunction)(void (*)(void))fused_##name, METH_FASTCALL, name##_doc}

static PyMethodDef fused_methods[] = {
    {"sgd", (PyCFunction)(void (*)(void))fused_sgd, METH_FASTCALL, sgd_doc},
    {"adam", (PyCFunction)(void (*)(void))fused_adam, METH_FASTCALL, adam_doc},
    KM(bias), KM(bias_grad), KM(relu), KM(relu_bwd), KM(tanh_bwd), KM(sigmoid_bwd), KM(neg_abs),
    KM(sigmoid_sel), KM(mse), KM(ce_grad), KM(abs_diff_sum), KM(correct_count),
    KM(all_finite), KM(set_wide),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fused_module = {
    PyModuleDef_HEAD_INIT, "gradstep._fused",
    "Single-pass SGD and Adam updates and compiled-step passes, bit-identical to "
    "gradstep's NumPy kernels.", -1,
    fused_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__fused(void)
{
    return PyModule_Create(&fused_module);
}
