/* C-classification SVMs on a precomputed kernel, one against one, as libsvm
   solves them (the solver of Arora et al.'s UCI pipeline): for each pair of
   classes the dual
       min 1/2 a' Q a - e' a,  0 <= a_t <= C,  y' a = 0,  Q_st = y_s y_t K_st
   by SMO with second-order working-set selection (Fan, Chen and Lin 2005),
   stopped when the maximal violation is below eps; the bias from the free
   variables (or the middle of the feasible interval); prediction by votes
   over the pairs, ties to the first class. Shrinking as libsvm's (bounded
   variables that cannot enter the working set leave the active set, and
   all return for the final check); no cache: the kernel is read in place,
   nothing is copied. Serial, on the main thread, with interrupt checks. */
#include "ntk.h"

#define SVM_TAU 1e-12

enum { AT_LOWER, AT_UPPER, FREE };

/* One pair's problem and the solver's state. Variables are permuted as the
   active set shrinks (idx follows them), so the kernel is read through idx. */
typedef struct {
  const double *K;        /* n x n kernel, column-major */
  R_xlen_t n;
  int *idx;               /* the pair's samples: rows of K (0-based) */
  double *y;              /* +1 / -1 */
  int l, active, unshrunk;
  double C, eps;
  double *alpha, *G, *G_bar, *QD;   /* G_bar: C times the columns of Q at the upper bound */
  char *status;
} smo_state;

/* K between variables s and t (column t is contiguous). */
static inline double kern(const smo_state *p, int s, int t)
{
  return p->K[(R_xlen_t) p->idx[s] + p->n * p->idx[t]];
}

static inline void set_status(smo_state *p, int t)
{
  p->status[t] = p->alpha[t] >= p->C ? AT_UPPER : p->alpha[t] <= 0 ? AT_LOWER : FREE;
}

static void swap_vars(smo_state *p, int a, int b)
{
#define SWAP(T, v) do { T tmp = p->v[a]; p->v[a] = p->v[b]; p->v[b] = tmp; } while (0)
  SWAP(int, idx); SWAP(double, y); SWAP(double, alpha); SWAP(double, G);
  SWAP(double, G_bar); SWAP(double, QD); SWAP(char, status);
#undef SWAP
}

/* The working pair (i, j) among the active variables, or 1 when the
   violation is below eps. */
static int select_pair(const smo_state *p, int *out_i, int *out_j)
{
  double gmax = -INFINITY, gmax2 = -INFINITY, best = INFINITY;
  int i = -1, j = -1;
  for (int t = 0; t < p->active; t++) {
    if (p->y[t] > 0) {
      if (p->status[t] != AT_UPPER && -p->G[t] >= gmax) { gmax = -p->G[t]; i = t; }
    } else {
      if (p->status[t] != AT_LOWER && p->G[t] >= gmax) { gmax = p->G[t]; i = t; }
    }
  }
  if (i < 0) return 1;
  for (int t = 0; t < p->active; t++) {
    double diff;
    if (p->y[t] > 0) {
      if (p->status[t] == AT_LOWER) continue;
      diff = gmax + p->G[t];
      if (p->G[t] >= gmax2) gmax2 = p->G[t];
    } else {
      if (p->status[t] == AT_UPPER) continue;
      diff = gmax - p->G[t];
      if (-p->G[t] >= gmax2) gmax2 = -p->G[t];
    }
    if (diff > 0) {
      double quad = p->QD[i] + p->QD[t] - 2.0 * kern(p, t, i);   /* |phi_i - phi_t|^2 */
      double obj = -(diff * diff) / (quad > 0 ? quad : SVM_TAU);
      if (obj <= best) { best = obj; j = t; }
    }
  }
  if (gmax + gmax2 < p->eps || j < 0) return 1;
  *out_i = i;
  *out_j = j;
  return 0;
}

/* Moves alpha_i, alpha_j along the constraint y' a = 0 to the minimum of
   the two-variable problem, clipped to the box. */
static void update_pair(smo_state *p, int i, int j)
{
  double C = p->C, qij = p->y[i] * p->y[j] * kern(p, i, j), *alpha = p->alpha, *G = p->G;
  const double *QD = p->QD;
  if (p->y[i] != p->y[j]) {
    double quad = QD[i] + QD[j] + 2 * qij;
    if (quad <= 0) quad = SVM_TAU;
    double delta = (-G[i] - G[j]) / quad, diff = alpha[i] - alpha[j];
    alpha[i] += delta;
    alpha[j] += delta;
    if (diff > 0) { if (alpha[j] < 0) { alpha[j] = 0; alpha[i] = diff; } }
    else if (alpha[i] < 0) { alpha[i] = 0; alpha[j] = -diff; }
    if (diff > 0) { if (alpha[i] > C) { alpha[i] = C; alpha[j] = C - diff; } }
    else if (alpha[j] > C) { alpha[j] = C; alpha[i] = C + diff; }
  } else {
    double quad = QD[i] + QD[j] - 2 * qij;
    if (quad <= 0) quad = SVM_TAU;
    double delta = (G[i] - G[j]) / quad, sum = alpha[i] + alpha[j];
    alpha[i] -= delta;
    alpha[j] += delta;
    if (sum > C) { if (alpha[i] > C) { alpha[i] = C; alpha[j] = sum - C; } }
    else if (alpha[j] < 0) { alpha[j] = 0; alpha[i] = sum; }
    if (sum > C) { if (alpha[j] > C) { alpha[j] = C; alpha[i] = sum - C; } }
    else if (alpha[i] < 0) { alpha[i] = 0; alpha[j] = sum; }
  }
}

/* The gradient of the variables shrunk away, from G_bar and the free ones. */
static void reconstruct_gradient(smo_state *p)
{
  if (p->active == p->l) return;
  for (int t = p->active; t < p->l; t++) p->G[t] = p->G_bar[t] - 1;
  for (int i = 0; i < p->active; i++)
    if (p->status[i] == FREE)
      for (int t = p->active; t < p->l; t++)
        p->G[t] += p->alpha[i] * p->y[i] * p->y[t] * kern(p, t, i);
}

static int be_shrunk(const smo_state *p, int t, double gmax1, double gmax2)
{
  if (p->status[t] == AT_UPPER) return p->y[t] > 0 ? -p->G[t] > gmax1 : -p->G[t] > gmax2;
  if (p->status[t] == AT_LOWER) return p->y[t] > 0 ? p->G[t] > gmax2 : p->G[t] > gmax1;
  return 0;
}

/* Shrinking as libsvm does it: bounded variables that cannot enter the
   working set leave the active set; near the end all come back once. */
static void shrink(smo_state *p)
{
  double gmax1 = -INFINITY, gmax2 = -INFINITY;
  for (int t = 0; t < p->active; t++) {
    double g = p->G[t];
    if (p->y[t] > 0) {
      if (p->status[t] != AT_UPPER && -g >= gmax1) gmax1 = -g;
      if (p->status[t] != AT_LOWER && g >= gmax2) gmax2 = g;
    } else {
      if (p->status[t] != AT_UPPER && -g >= gmax2) gmax2 = -g;
      if (p->status[t] != AT_LOWER && g >= gmax1) gmax1 = g;
    }
  }
  if (!p->unshrunk && gmax1 + gmax2 <= p->eps * 10) {
    p->unshrunk = 1;
    reconstruct_gradient(p);
    p->active = p->l;
  }
  for (int t = 0; t < p->active; t++)
    if (be_shrunk(p, t, gmax1, gmax2)) {
      p->active--;
      while (p->active > t) {
        if (!be_shrunk(p, p->active, gmax1, gmax2)) { swap_vars(p, t, p->active); break; }
        p->active--;
      }
    }
}

/* The bias: the mean of y G over free variables, else the middle of the
   interval the bounded ones allow. */
static double bias(const smo_state *p)
{
  double ub = INFINITY, lb = -INFINITY, sum = 0;
  int nfree = 0;
  for (int t = 0; t < p->active; t++) {
    double yg = p->y[t] * p->G[t];
    if (p->status[t] == AT_UPPER) { if (p->y[t] < 0) ub = fmin(ub, yg); else lb = fmax(lb, yg); }
    else if (p->status[t] == AT_LOWER) { if (p->y[t] > 0) ub = fmin(ub, yg); else lb = fmax(lb, yg); }
    else { nfree++; sum += yg; }
  }
  return nfree > 0 ? sum / nfree : (ub + lb) / 2;
}

/* Solves one pair; afterwards coef_t = y_t alpha_t for the sample idx[t]
   (idx is permuted by the solver) and *rho the bias. Returns 1 when the
   iteration limit stopped it (libsvm's limit: max(1e7, 100 l)). */
static int solve_pair(smo_state *p, double *coef, double *rho)
{
  int l = p->l;
  for (int t = 0; t < l; t++) {
    p->alpha[t] = 0; p->G[t] = -1; p->G_bar[t] = 0; p->QD[t] = kern(p, t, t);
    p->status[t] = AT_LOWER;
  }
  p->active = l;
  p->unshrunk = 0;
  double limit = fmax(1e7, 100.0 * l);
  int capped = 1, counter = (l < 1000 ? l : 1000) + 1;
  for (double iter = 0; iter < limit; iter++) {
    if (--counter == 0) {
      counter = l < 1000 ? l : 1000;
      shrink(p);
    }
    int i, j;
    if (select_pair(p, &i, &j)) {
      reconstruct_gradient(p);   /* optimal on the active set: check all */
      p->active = l;
      if (select_pair(p, &i, &j)) { capped = 0; break; }
      counter = 1;
    }
    double ai = p->alpha[i], aj = p->alpha[j];
    int upper_i = p->status[i] == AT_UPPER, upper_j = p->status[j] == AT_UPPER;
    update_pair(p, i, j);
    double di = (p->alpha[i] - ai) * p->y[i], dj = (p->alpha[j] - aj) * p->y[j];
    for (int t = 0; t < p->active; t++)
      p->G[t] += p->y[t] * (kern(p, t, i) * di + kern(p, t, j) * dj);
    set_status(p, i);
    set_status(p, j);
    /* G_bar follows the variables that reach or leave the upper bound */
    if (upper_i != (p->status[i] == AT_UPPER)) {
      double s = (upper_i ? -p->C : p->C) * p->y[i];
      for (int t = 0; t < l; t++) p->G_bar[t] += s * p->y[t] * kern(p, t, i);
    }
    if (upper_j != (p->status[j] == AT_UPPER)) {
      double s = (upper_j ? -p->C : p->C) * p->y[j];
      for (int t = 0; t < l; t++) p->G_bar[t] += s * p->y[t] * kern(p, t, j);
    }
    if (fmod(iter + 1, 20000) == 0) R_CheckUserInterrupt();
  }
  if (p->active < l) { reconstruct_gradient(p); p->active = l; }
  *rho = bias(p);
  for (int t = 0; t < l; t++) coef[t] = p->y[t] * p->alpha[t];
  return capped;
}

/* 1-based indices into 0..n-1, each checked. */
static int *read_index(SEXP v, R_xlen_t n, const char *name, int *len)
{
  if (TYPEOF(v) != INTSXP || XLENGTH(v) < 1 || XLENGTH(v) > INT_MAX)
    Rf_error("'%s' must be a non-empty integer vector", name);
  *len = (int) XLENGTH(v);
  int *out = (int *) R_alloc(*len, sizeof(int));
  for (int t = 0; t < *len; t++) {
    int v_t = INTEGER(v)[t];
    if (v_t == NA_INTEGER || v_t < 1 || v_t > n) Rf_error("'%s' must hold row numbers of 'k'", name);
    out[t] = v_t - 1;
  }
  return out;
}

/* Predicted class codes (those of `y`) of the rows `test`, from SVMs fitted
   on the rows `train`; attribute "capped": pairs stopped by the limit. */
SEXP ntk_svm_ovo(SEXP k, SEXP y, SEXP train, SEXP test, SEXP cost, SEXP tol)
{
  nt_mem_begin();
  nt_check_real_matrix(k, "k");
  R_xlen_t n = Rf_nrows(k);
  if (Rf_ncols(k) != n) Rf_error("'k' must be a square matrix");
  nt_check_finite(REAL(k), XLENGTH(k), "k");
  if (TYPEOF(y) != INTSXP || XLENGTH(y) != n) Rf_error("'y' must be an integer vector, one code per row of 'k'");
  int ntr, nte;
  int *tr = read_index(train, n, "train", &ntr), *te = read_index(test, n, "test", &nte);
  if (TYPEOF(cost) != REALSXP || XLENGTH(cost) != 1 || !(REAL(cost)[0] > 0) || !R_FINITE(REAL(cost)[0]))
    Rf_error("'cost' must be a positive number");
  if (TYPEOF(tol) != REALSXP || XLENGTH(tol) != 1 || !(REAL(tol)[0] > 0) || !R_FINITE(REAL(tol)[0]))
    Rf_error("'tol' must be a positive number");
  /* the classes present in training, ascending */
  int kmax = 0;
  for (int t = 0; t < ntr; t++) {
    int c = INTEGER(y)[tr[t]];
    if (c == NA_INTEGER || c < 1) Rf_error("'y' must hold positive class codes");
    if (c > kmax) kmax = c;
  }
  if (kmax > 100000) Rf_error("'y' has too many classes");
  int *count = (int *) R_alloc(kmax + 1, sizeof(int));
  memset(count, 0, (kmax + 1) * sizeof(int));
  for (int t = 0; t < ntr; t++) count[INTEGER(y)[tr[t]]]++;
  int nc = 0, *cls = (int *) R_alloc(kmax + 1, sizeof(int));
  for (int c = 1; c <= kmax; c++) if (count[c]) cls[nc++] = c;
  SEXP pred = PROTECT(Rf_allocVector(INTSXP, nte));
  int capped = 0;
  if (nc == 1) {
    for (int t = 0; t < nte; t++) INTEGER(pred)[t] = cls[0];
  } else {
    nt_check_alloc((double) nte, (double) nc, 1, "the votes");
    double *votes = (double *) R_alloc((size_t) nte * nc, sizeof(double));
    memset(votes, 0, (size_t) nte * nc * sizeof(double));
    int *idx = (int *) R_alloc(ntr, sizeof(int));
    double *ys = (double *) R_alloc(ntr, sizeof(double)), *coef = (double *) R_alloc(ntr, sizeof(double));
    double *alpha = (double *) R_alloc(ntr, sizeof(double)), *G = (double *) R_alloc(ntr, sizeof(double));
    double *G_bar = (double *) R_alloc(ntr, sizeof(double)), *QD = (double *) R_alloc(ntr, sizeof(double));
    char *status = (char *) R_alloc(ntr, sizeof(char));
    const double *K = REAL(k);
    for (int a = 0; a < nc; a++)
      for (int b = a + 1; b < nc; b++) {
        int l = 0;   /* class a first (+1), then class b (-1), each in training order */
        for (int t = 0; t < ntr; t++) if (INTEGER(y)[tr[t]] == cls[a]) { idx[l] = tr[t]; ys[l++] = 1; }
        for (int t = 0; t < ntr; t++) if (INTEGER(y)[tr[t]] == cls[b]) { idx[l] = tr[t]; ys[l++] = -1; }
        smo_state p = {K, n, idx, ys, l, l, 0, REAL(cost)[0], REAL(tol)[0], alpha, G, G_bar, QD, status};
        double rho;
        capped += solve_pair(&p, coef, &rho);
        for (int q = 0; q < nte; q++) {
          double f = -rho;
          const double *col = K + (R_xlen_t) te[q];
          for (int t = 0; t < l; t++) if (coef[t] != 0) f += coef[t] * col[n * idx[t]];
          votes[(size_t) q * nc + (f > 0 ? a : b)] += 1;
        }
        R_CheckUserInterrupt();
      }
    for (int q = 0; q < nte; q++) {
      int best = 0;
      for (int c = 1; c < nc; c++) if (votes[(size_t) q * nc + c] > votes[(size_t) q * nc + best]) best = c;
      INTEGER(pred)[q] = cls[best];
    }
  }
  Rf_setAttrib(pred, Rf_install("capped"), Rf_ScalarInteger(capped));
  UNPROTECT(1);
  return pred;
}
