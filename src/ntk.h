/* ntk: shared declarations of the C core.  Every .c file includes only this.

   A map of the C core.

   From a network object to a kernel value
   ---------------------------------------
   1. R builds a network: a list of layer objects (R/layers.R,
      R/layers-spatial.R, R/activation.R, R/branches.R), each with a `code`
      naming an op of the registry below, or a fan-out / parallel / fan-in.
   2. R compiles it (R/plan.R compile_network(): one compile_layer() method
      per layer class): an integer matrix, one column per op, rows named by
      the registry (code, trainable, table, slot, first, count); a double
      matrix (two parameters); a geometry matrix (positions in and out,
      filter, stride, padding, band scale); a list of per-layer data: for
      nt_activation() layers a tabulated function with its quadrature rules,
      for polynomial layers their coefficients.  Every op acts on the
      kernel state in `slot` (fan-out and fan-in also on `count` slots from
      `first`): a plain network uses slot 0 alone.  Op codes and row names
      are read from C when the package loads (ntk_op_layout), never copied.
   3. An entry point (ntk_fc_kernel, ntk_fc_family, ntk_conv_kernel,
      ntk_empirical, ntk_train, ...) reads the plan with nt_plan_read()
      (plan.c: every code looked up in the registry, unknown codes, negative
      variances and slots that hold no state are errors; then the fusion
      pass marks ops that may run with the next one), asks nt_plan_require()
      whether its engine runs every op (elementwise ops: whether they have
      the hook), validates the inputs (checks.c, geometry.c), and hands raw
      double* buffers to its core, which nt_drive() (drive.c) runs in blocks:
      - fc.c: fully connected kernels, per column chunk of pairs: the Gram
        matrix (gram.c), then column_layers() runs the ops down each column
        (ReLU duals and the following dense layer fused in relu_column.c;
        other activations through their dual hook; fan-in and fan-out in
        branch.c).  Taps copy states after chosen ops, NTK channels freeze
        leading layers: nt_fc_family is the same engine with a tap after
        every dense layer and one channel per number of frozen layers.
      - conv.c: convolutional kernels; sp_pair() runs the plan on one pair of
        images (band engine: only the position pairs the readout reaches;
        full engine: all P x P pairs, needed for pooling and branches), after
        the self pass of each image.
      - finite.c: finite networks (Monte Carlo NNGP / NTK by backpropagation,
        gradient-descent training): fl_build(), fl_forward(), fl_backward()
        over a tape with one entry per op, so branches add their gradients.
      Homogeneous plans (homog.c: every op positively homogeneous, no bias)
      run on inputs shifted by powers of two into a safe range, exactly, and
      shift each output entry back: tiny and huge inputs keep every digit.
   4. Threads: OpenMP over blocks of tasks; the main thread alone reports
      progress and checks interrupts between blocks (drive.c, progress.c);
      no R API call inside a parallel region.  The finite networks run on
      the main thread and split their BLAS products into blocks with an
      interrupt check after each (finite.c's gemm_blocked).
   5. Memory: every entry point starts a count (nt_mem_begin) and each big
      allocation is checked with the call's running total against the
      memory available (checks.c: options(ntk.memory_limit), else Linux's
      MemAvailable within the memory cgroup's limit).
   Beside the engines: eigen.c, a symmetric eigendecomposition (LAPACK's
   dsyevr on a worker thread) that an interrupt can leave; result.c, the
   result lists and the in-place ntKernelMatrix wrapper.

   The op registry (ops.c, activations.c)
   --------------------------------------
   One descriptor per op: code, name, kind flags (affine, elementwise,
   spatial, readout, branch), whether its parameters are variances, and the
   steps each engine calls: the fully connected column step, the
   convolutional pair step, the finite forward and backward steps (fc.c,
   conv.c, finite.c define them; NULL where an engine does not run the op).
   Elementwise ops add two hooks that their steps call: `dual` (E[phi phi]
   and E[phi' phi'] of a Gaussian pair: the pair update of every kernel
   engine, and the self-variance update as the pair (s, s, s)) and `value`
   (phi and phi', for finite networks).  Engines dispatch only through the
   descriptor; an op without the step or hook an engine needs is an error
   at plan validation (nt_plan_require), never a silent identity.  The
   structural ops are listed in ops.c, the elementwise ones beside their
   hooks in activations.c.  Output shapes and geometry are derived in R by
   each layer's compile_layer() method and checked in C (conv.c's plan walk,
   finite.c's fl_build, geometry.c).

   Adding an activation with a closed form, for example phi(u) = sin(u):
   in activations.c, a dual hook (E[sin u sin v] = exp(-(s1 + s2) / 2)
   sinh(c), E[cos u cos v] = exp(-(s1 + s2) / 2) cosh(c)), a value hook
   (sin u, cos u) and the registry row {16, "sin", NT_KIND_ELEMENTWISE, 0,
   sin_dual, sin_value, NT_ELEMENTWISE_STEPS}; in R/layers.R, the constructor
   nt_sin <- function() new_activation("Sin", "sin"); and its tests (its
   dual against nt_activation(sin) and Monte Carlo).  No engine changes.
   Test files follow the source files: test-conv.R (conv.c), test-family.R
   (fc.c's family), test-empirical.R (finite.c), test-branches.R (branch.c
   and the slots), test-c-entry.R (plan.c, ops.c, checks.c). */
#ifndef NTK_H
#define NTK_H

#define R_NO_REMAP
#define USE_FC_LEN_T
#include <R.h>
#include <Rinternals.h>
#include <R_ext/BLAS.h>
#include <R_ext/Utils.h>
#include <math.h>
#include <stddef.h>
#include <float.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifndef FCONE
#define FCONE
#endif

/* Codes of the ops the engines treat specially (fast paths, geometry).
   Every op, these and the elementwise ones of activations.c, is described
   by one registry entry (nt_op_info); R reads the codes through
   ntk_op_layout and never copies them. */
enum {
  NT_OP_DENSE = 1,
  NT_OP_ABRELU = 2,   /* a * min(u, 0) + b * max(u, 0): ReLU, leaky ReLU, abs */
  NT_OP_TABLE = 6,    /* any R function, tabulated, by polar quadrature */
  NT_OP_CONV = 7,
  NT_OP_AVGPOOL = 8,
  NT_OP_FLATTEN = 9,
  NT_OP_GAP = 10,
  NT_OP_LAP = 11,
  NT_OP_FANOUT = 12,  /* copies slot into first..first+count-1 */
  NT_OP_SUM = 13,     /* slot <- slot + first + ... (independent branches) */
  NT_OP_PROD = 14,    /* slot <- slot * first * ... (independent branches) */
  NT_OP_CONCAT = 15,  /* slot <- the mean of the branches (channels concatenated) */
  NT_OP_POLY = 22,    /* a polynomial; its coefficients in the plan's `tables` list */
  NT_OP_LAYERNORM = 23,      /* layer normalisation over channels (normalize.c) */
  NT_OP_LAYERNORM_ALL = 24,  /* over channels and space */
  NT_OP_DROPOUT = 25,        /* train-mode dropout, p1 = keep rate (dropout.c) */
  NT_OP_AGGREGATE = 26,      /* graph aggregation over positions (graph.c) */
  NT_OP_CONV_LOCAL = 27      /* convolution with unshared weights (one filter per position) */
};
static inline int nt_is_conv(int code) { return code == NT_OP_CONV || code == NT_OP_CONV_LOCAL; }

enum {
  NT_KIND_AFFINE = 1,       /* dense, conv: K -> w K + b, trainable */
  NT_KIND_ELEMENTWISE = 2,  /* activations: need the self variances */
  NT_KIND_SPATIAL = 4,      /* conv, pooling: move positions */
  NT_KIND_READOUT = 8,      /* flatten, GAP, LAP: positions to one vector */
  NT_KIND_BRANCH = 16,      /* fan-out and fan-in: act on several slots */
  NT_KIND_HOMOGENEOUS = 32  /* positively homogeneous of degree 1 on the kernel
                               state (affine ops: without bias); homog.c */
};
enum { NT_ENGINE_FC = 1, NT_ENGINE_CONV = 2, NT_ENGINE_FINITE = 4 };
#define NT_MAX_SLOTS 32     /* kernel states a plan may hold at once */

struct nt_op_info_s;

/* A tabulated activation: per grid cell the one-sided limits of phi, phi'
   and phi'' at both ends, so kinks and jumps on grid nodes are exact. */
typedef struct {
  double lo, h, inv_h;    /* grid x_i = lo + i h, i = 0..cells */
  int cells;
  const double *vals;     /* 6 per cell, one-sided limits at its left and right
                             ends: phi (L, R), phi' (L, R), phi'' (L, R) */
  int nrad, nang;
  const double *rad_x, *rad_w;  /* Gauss rule for r exp(-r^2 / 2) on (0, Inf), weights sum to 1 */
  const double *ang_x, *ang_w;  /* Gauss-Legendre on [-1, 1] */
} nt_table;

/* One op of a compiled plan.  Every op acts on the kernel state in `slot`;
   fan-out and fan-in also on the `count` slots from `first`. */
typedef struct {
  int code, trainable;
  int kind;               /* NT_KIND_* flags, from the registry */
  int slot, first, count;
  int fuse;               /* the fusion pass: the next op may run inside this one */
  double p1, p2;          /* dense, conv: w_var, b_var; activations: their parameters */
  double p3, p4;          /* activations with more parameters */
  const nt_table *table;  /* NT_OP_TABLE only */
  const double *coef;     /* NT_OP_POLY: a_0..a_degree of sum a_k u^k;
                             NT_OP_AGGREGATE: the adjacency matrices */
  R_xlen_t ncoef;
  const struct nt_op_info_s *info;
} nt_op;

/* Hooks of an elementwise op.  dual: E[phi(u) phi(v)] into k and
   E[phi'(u) phi'(v)] into kdot for (u, v) ~ N(0, [[s1, c], [c, s2]]),
   r1 = sqrt(s1), r2 = sqrt(s2).  value: phi(u), with phi'(u) in deriv,
   for finite networks (NULL: no finite counterpart). */
typedef void (*nt_dual_fn)(const nt_op *op, double s1, double s2, double r1, double r2,
                           double c, double *k, double *kdot);
typedef double (*nt_value_fn)(const nt_op *op, double u, double *deriv);

/* Engine hooks: how each engine runs an op (NULL: it does not).  Their
   arguments are each engine's own state, opaque here. */
struct nt_fc_block;     /* fc.c: rows of one column of pairs */
struct nt_conv_pass;    /* conv.c: one pair of images */
struct nt_fl_layer;     /* finite.c: one op of a finite network */
struct nt_fl_tape;      /* finite.c: the activations of a forward pass */
typedef void (*nt_fl_visit)(const struct nt_fl_layer *L, int l, const double *feat,
                            const double *delta, int n, void *ctx);
typedef void (*nt_fc_hook)(struct nt_fc_block *b, const nt_op *op);
typedef int (*nt_conv_hook)(struct nt_conv_pass *p, const nt_op *op, int l);
typedef void (*nt_fl_forward_hook)(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
typedef void (*nt_fl_backward_hook)(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                                    nt_fl_visit visit, void *ctx);

typedef struct nt_op_info_s {
  int code;
  const char *name;
  int kind;
  int variances;            /* p1, p2 are variances: non-negative */
  nt_dual_fn dual;          /* elementwise ops: the dual kernels */
  nt_value_fn value;        /* elementwise ops: phi and phi' */
  nt_fc_hook fc;            /* the engines' steps */
  nt_conv_hook conv;
  nt_fl_forward_hook fl_forward;
  nt_fl_backward_hook fl_backward;
  const char *(*check)(const nt_op *op);   /* NULL, or why the parameters are invalid */
} nt_op_info;

/* The engines' steps (fc.c, conv.c, finite.c), named in the registry. */
void nt_fc_dense(struct nt_fc_block *b, const nt_op *op);
void nt_fc_abrelu(struct nt_fc_block *b, const nt_op *op);
void nt_fc_elementwise(struct nt_fc_block *b, const nt_op *op);
void nt_fc_branch(struct nt_fc_block *b, const nt_op *op);
int nt_conv_dense(struct nt_conv_pass *p, const nt_op *op, int l);
int nt_conv_conv(struct nt_conv_pass *p, const nt_op *op, int l);
int nt_conv_pool(struct nt_conv_pass *p, const nt_op *op, int l);
int nt_conv_readout(struct nt_conv_pass *p, const nt_op *op, int l);
int nt_conv_branch(struct nt_conv_pass *p, const nt_op *op, int l);
int nt_conv_elementwise(struct nt_conv_pass *p, const nt_op *op, int l);
int nt_conv_norm_all(struct nt_conv_pass *p, const nt_op *op, int l);
int nt_conv_dropout(struct nt_conv_pass *p, const nt_op *op, int l);
int nt_conv_aggregate(struct nt_conv_pass *p, const nt_op *op, int l);
void nt_fl_aggregate_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_aggregate_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                              nt_fl_visit visit, void *ctx);
/* graph.c: the adjacency of graph g (column-major P x P) of an aggregation
   op: its one shared matrix (p1 = 0), or the g-th of its per-graph ones;
   the number of graphs it holds (0 when shared). */
const double *nt_graph_adjacency(const nt_op *op, int g, int P);
R_xlen_t nt_graph_count(const nt_op *op, int P);
void nt_fc_dropout(struct nt_fc_block *b, const nt_op *op);
void nt_fl_dropout_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_dropout_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                            nt_fl_visit visit, void *ctx);
void nt_fl_affine_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_affine_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                           nt_fl_visit visit, void *ctx);
void nt_fl_pool_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_pool_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                         nt_fl_visit visit, void *ctx);
void nt_fl_flatten_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_copy_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                         nt_fl_visit visit, void *ctx);
void nt_fl_gap_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_gap_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                        nt_fl_visit visit, void *ctx);
void nt_fl_fanout_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_fanin_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_fanin_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                          nt_fl_visit visit, void *ctx);
void nt_fl_elementwise_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_elementwise_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                                nt_fl_visit visit, void *ctx);
void nt_fl_norm_forward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l);
void nt_fl_norm_backward(const struct nt_fl_layer *L, struct nt_fl_tape *tp, int l,
                         nt_fl_visit visit, void *ctx);
/* The steps of an elementwise op in every engine, for its registry row. */
#define NT_ELEMENTWISE_STEPS nt_fc_elementwise, nt_conv_elementwise, nt_fl_elementwise_forward, \
  nt_fl_elementwise_backward
const nt_op_info *nt_op_lookup(int code);   /* NULL for an unknown code */
/* activations.c: the registry entries of the elementwise ops */
extern const nt_op_info nt_elementwise_ops[];
extern const int nt_n_elementwise_ops;
/* normalize.c: the registry entries of the normalisation ops */
extern const nt_op_info nt_norm_ops[];
extern const int nt_n_norm_ops;
/* dropout.c */
extern const nt_op_info nt_dropout_ops[];
extern const int nt_n_dropout_ops;
/* graph.c */
extern const nt_op_info nt_graph_ops[];
extern const int nt_n_graph_ops;

/* Rows of the integer matrix of a plan (R/plan.R), one column per op. */
enum { NT_P_CODE, NT_P_TRAINABLE, NT_P_TABLE, NT_P_SLOT, NT_P_FIRST, NT_P_COUNT, NT_P_ROWS };
#define NT_N_PARAMS 4    /* rows of the plan's double matrix: p1..p4 per op */
#define NT_MAX_POLY_COEF 21   /* polynomial layers: degree 0..20 */

/* Rows of the geometry matrix of a spatial plan (R/plan.R).  Positions form
   a grid of rows x columns (HIN x WIN in, HOUT x WOUT out).  For images and
   sequences a row is a row of pixels; for volumes (depth D) the height and
   depth axes run together as H * D rows, depth fastest (row = y * D + d), so
   that every engine loop over positions stays two-dimensional: DIN and DOUT
   are the depths in and out (1 for images), QH the row taps (the height
   filter times the depth filter QD), SH and PT the height stride and
   leading padding, SD and PD those along depth.  nt_row_map() is the one
   place that reads the row axis as (height, depth). */
enum {
  NT_G_HIN, NT_G_WIN, NT_G_HOUT, NT_G_WOUT, NT_G_QH, NT_G_QW, NT_G_SH, NT_G_SW,
  NT_G_PT, NT_G_PL, NT_G_CIRC, NT_G_LAPC, NT_G_BSY, NT_G_BSX,
  NT_G_DIN, NT_G_DOUT, NT_G_QD, NT_G_SD, NT_G_PD, NT_G_ROWS
};

/* Whether a window op's rows are plain image rows (no depth axis), so
   that row offsets are shifts of the row index. */
static inline int nt_plain_rows(const int *g)
{
  return g[NT_G_DIN] == 1 && g[NT_G_DOUT] == 1 && g[NT_G_QD] == 1 && g[NT_G_PD] == 0;
}

static inline double nt_snap_rho(double rho)
{
  if (rho >= 1.0 - 4.0 * DBL_EPSILON) return 1.0;
  if (rho <= -1.0 + 4.0 * DBL_EPSILON) return -1.0;
  return rho;
}

/* Correlation of a pair, clipped to [-1, 1]; 0 for a zero-variance input
   (its covariances are then 0 too, so any value gives the correct limit).
   Correlations within 4 ulps of +-1 are rounding noise of the Gram matrix
   (parallel inputs): they are snapped, so parallel pairs are exact.  One
   side at a time: r1 r2 underflows (or overflows) where c / r1 cannot. */
static inline double nt_pair_rho(double r1, double r2, double c)
{
  if (!(r1 > 0) || !(r2 > 0)) return 0.0;
  return nt_snap_rho(c / r1 / r2);
}

/* ABReLU, phi(u) = a min(u, 0) + b max(u, 0) (see ?activations); inline
   because the fully connected and convolutional loops call it per entry.
   ir1, ir2 are 1 / sqrt(s) (0 for a zero variance): no division per pair. */
static inline void nt_abrelu_dual(double a, double b, double r1, double r2, double ir1,
                                  double ir2, double c, double *k, double *kdot)
{
  const double pi = 3.14159265358979323846, inv_2pi = 0.15915494309189533577;
  double rho = nt_snap_rho(c * ir1 * ir2);   /* c ir1 <= r2: ir1 ir2 may overflow */
  double theta = acos(rho);
  double sin_t = sqrt((1.0 - rho) * (1.0 + rho));
  double p = r1 * r2;
  double j_even = sin_t + (pi - theta) * rho;   /* the ReLU part */
  if (a == 0.0 && b == 1.0) {
    *k = p * j_even * inv_2pi;
    *kdot = (pi - theta) * inv_2pi;
    return;
  }
  double j_odd = sin_t - theta * rho;
  double sq = a * a + b * b;
  *k = p * (sq * j_even - 2.0 * a * b * j_odd) * inv_2pi;
  *kdot = (sq * (pi - theta) + 2.0 * a * b * theta) * inv_2pi;
}

/* The activation op on a pair (its dual hook), and on a pair whose self
   records (s, sqrt s, 1 / sqrt s) are sx and sz: returns E[phi phi],
   stores E[phi' phi'] in kdot (ABReLU inline: the hot case). */
static inline void nt_act_pair(const nt_op *op, double s1, double s2, double r1, double r2,
                               double c, double *k, double *kdot)
{
  op->info->dual(op, s1, s2, r1, r2, c, k, kdot);
}
static inline double nt_act_self(const nt_op *op, const double *sx, const double *sz,
                                 double c, double *kdot)
{
  double k;
  if (op->code == NT_OP_ABRELU)
    nt_abrelu_dual(op->p1, op->p2, sx[1], sz[1], sx[2], sz[2], c, &k, kdot);
  else
    nt_act_pair(op, sx[0], sz[0], sx[1], sz[1], c, &k, kdot);
  return k;
}

/* branch.c: a fan-out or fan-in op on `len` entries of the states k[slot]
   (and t[slot] when t is not NULL). */
void nt_branch_step(const nt_op *op, double *const *k, double *const *t, size_t len);

/* AVX-512 (x86-64-v4) and AVX2 + FMA (x86-64-v3) clones of a hot loop
   beside the baseline one, picked when the library loads (gcc's
   target_clones; ifunc needs Linux; gcc >= 12 checks ISA levels, older gcc
   gets an AVX2 clone). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#if __GNUC__ >= 12
#define NT_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NT_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#else
#define NT_VECTOR_CLONES
#endif

/* src/hugepages.c: ask for transparent huge pages for a large buffer */
void nt_advise_huge(void *p, size_t bytes);

/* src/gram.c: the upper triangle of a symmetric n x n matrix copied into
   its lower one, on nth threads */
void nt_mirror_upper(double *a, int n, int nth);
/* src/gram.c: alpha * x z' on a block of rows and columns, by the
   register-blocked loop (native) or BLAS */
void nt_gram(const double *x, int ldx, const double *z, int ldz, int rows, int cols, int d,
             double alpha, double *out, int ldo, int native);
/* relu_column.c: ABReLU duals of `rows` pairs whose x sides have sqrt(s)
   and 1 / sqrt(s) in r1, ir1 and whose z side has r2, ir2, then the dense
   layer `dense` (or none); k and t in place. */
void nt_abrelu_column(double a, double b, const double *r1, const double *ir1, double r2,
                      double ir2, double *k, double *t, int rows, const nt_op *dense);
/* Its partials for forward-mode gradients (gradient.c): from c, F = E[phi phi]
   and G = E[phi' phi'], the derivatives F_1, F_2, G_c, G_1, G_2. */
void nt_abrelu_partials(double a, double b, int rows, const double *c, const double *F,
                        const double *G, const double *ir1, double ir2, double *f1, double *f2,
                        double *gc, double *g1, double *g2);

/* Largest |argument| at which the table of op is read for variance s. */
double nt_table_reach(const nt_table *t, double s);

/* plan.c: a compiled network read from its R description. */
typedef struct {
  int nops, nact;
  int nslots;             /* slots used: 1 + the largest slot index */
  int branches;           /* whether any op fans out or in */
  nt_op *ops;
} nt_plan;
void nt_plan_read(SEXP ops_int, SEXP ops_dbl, SEXP tables, nt_plan *plan);
/* An R error naming the first layer that `engine` does not run. */
void nt_plan_require(const nt_plan *plan, int engine);
static inline int nt_is_activation(const nt_op *op) { return (op->kind & NT_KIND_ELEMENTWISE) != 0; }
/* Self variances of one input through the plan: for activation j,
   self[3j] = pre-activation variance, self[3j + 1] = its square root,
   self[3j + 2] = the inverse square root, 0 for a zero variance.
   Returns 0, or 1 + the index of the first table op read out of range. */
#define NT_SELF 3   /* per activation: s, sqrt(s), 1 / sqrt(s) (0 when s = 0) */
int nt_plan_self(const nt_plan *plan, double s0, double *self);

/* homog.c: positive homogeneity.  The degree D of the plan (K(a x, b z) =
   (a b)^D K(x, z) for a, b > 0), and in deg[l] that of op l's slot after
   op l; 0 when the plan is not positively homogeneous.  The power-of-two
   shift of an input whose largest |entry| is maxabs: the engines run it as
   x 2^-shift, exactly.  out[i] = v[i] 2^(degree (shift[i] + shift_z)). */
int nt_plan_degree(const nt_plan *plan, int *deg);
int nt_input_shift(double maxabs, int degree);
void nt_unshift(double *out, const double *v, const int *shift, int shift_z, int degree, int rows);

/* checks.c: argument checks for the .Call entry points. */
void nt_check_real_matrix(SEXP x, const char *name);
void nt_check_finite(const double *x, R_xlen_t n, const char *name);
int nt_check_int_scalar(SEXP x, const char *name, int lo, int hi);
int nt_check_flag(SEXP x, const char *name);
void nt_check_alloc(double n, double m, double copies, const char *what);
double nt_physical_memory(void);   /* bytes, 0 where the system does not say */
double nt_available_memory(void);  /* bytes a call may allocate (option or system) */
void nt_mem_begin(void);           /* every entry point: a new call's memory count */
void nt_check_what(SEXP what, int *want_ntk, int *want_nngp);

/* geometry.c: the checks of a conv or pool op's geometry column (layer l,
   reading h x w positions), and the input position of each (filter offset,
   output position) along one axis, -1 in the zero padding. */
void nt_check_window(const int *g, int code, int h, int w, int l);
void nt_window_map(int *map, int nout, int nin, int q, int stride, int pad, int circ);
/* The same along the row axis of a checked geometry column g (heights and,
   for volumes, depths): map[e * HOUT + o] for the QH row taps e. */
void nt_row_map(int *map, const int *g);
/* The in-image positions of window w along an axis of n positions: the
   first and their count, from its start w s - pad (outside: zero padding). */
static inline void nt_window_span(int w, int s, int pad, int q, int n, int *first, int *count)
{
  int a = w * s - pad, b = a + q;
  if (a < 0) a = 0;
  if (b > n) b = n;
  *first = a;
  *count = b > a ? b - a : 0;
}

/* result.c: list(items[0], ..., items[n - 1]) */
SEXP nt_result(int n, const SEXP *items);

/* threads.c: a request cut to OpenMP's limit (1 in a forked child); the
   fork guard, installed when the library loads */
int nt_threads_clamp(int requested);
void nt_threads_init(void);

/* progress.c: progress bar and interrupts between blocks, main thread only. */
typedef struct {
  int show;
  double total, done, started;
  int last_pct;
} nt_progress;
void nt_progress_start(nt_progress *p, int show, double total);
void nt_progress_step(nt_progress *p, double work);
void nt_progress_end(nt_progress *p);
double nt_now(void);   /* wall-clock seconds */

/* result.c: the upper triangle of columns [j0, j1) of a symmetric n x n
   result mirrored to the lower (see there why chunks may run in parallel). */
void nt_mirror_chunk(double *a, int n, int j0, int j1);

/* drive.c: runs tasks 0..ntasks-1 in blocks of about block_work work units
   (weight(ctx, t) each; block_work <= 0: adaptive, doubled while blocks
   take under 0.05 s), on nth OpenMP threads, or serially on the main thread
   when nth is 0 (then tasks may call R).  Between blocks: the progress bar
   and interrupt checks.  Returns the sum of run()'s counts of non-finite
   results. */
typedef struct {
  R_xlen_t ntasks;
  double (*weight)(void *ctx, R_xlen_t task);
  R_xlen_t (*run)(void *ctx, R_xlen_t task);
  double block_work;
  int nth;
} nt_drive_spec;
R_xlen_t nt_drive(const nt_drive_spec *d, void *ctx, nt_progress *bar);

#endif
