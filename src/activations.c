/* The elementwise ops: their registry entries (at the end of this file)
   and their hooks.  dual: the Gaussian expectations that an elementwise
   layer applies to the NNGP (E[phi phi]) and to the NTK factor
   (E[phi' phi']), closed forms where they exist (documented in ?ntk and
   ?activations), otherwise a polar quadrature over a tabulated phi.
   value: phi and phi' for finite networks.

   Adding an activation with a closed form: its two hooks and its registry
   entry here (a new code), its constructor in R/layers.R (with its `code`
   name and parameters), and its tests; no engine changes. */
#include "ntk.h"

#define NT_PI 3.14159265358979323846
#define NT_2PI 6.28318530717958647692

static void abrelu_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                        double *k, double *kdot)
{
  (void) s1; (void) s2;
  nt_abrelu_dual(op->p1, op->p2, r1, r2, r1 > 0 ? 1.0 / r1 : 0.0, r2 > 0 ? 1.0 / r2 : 0.0, c,
                 k, kdot);
}

static double abrelu_value(const nt_op *op, double u, double *deriv)
{
  *deriv = u > 0 ? op->p2 : op->p1;
  return u > 0 ? op->p2 * u : op->p1 * u;
}

/* (s1 s2 - c^2) / m^2 from p = sqrt(s1 s2), with c within 4 ulps of +-p
   snapped as in nt_pair_rho: otherwise the rounding of the Gram matrix,
   amplified by s^2, swamps the 1 + 2 s terms beside it for huge variances. */
static inline double pair_gap(double p, double c, double m)
{
  if (fabs(p - fabs(c)) <= 4.0 * DBL_EPSILON * p) return 0.0;
  double gap = ((p - c) / m) * ((p + c) / m);
  return gap > 0 ? gap : 0.0;
}

/* erf(u), unit scale: written with m = max(1, sqrt(s1 s2)) factored out, so
   that huge variances neither overflow nor lose the near-parallel digits. */
static void erf_unit_dual(double s1, double s2, double r1, double r2, double c, double *k, double *kdot)
{
  double p = r1 * r2;
  double m = p > 1.0 ? p : 1.0;
  double gap = pair_gap(p, c, m);                   /* (s1 s2 - c^2) / m^2 */
  double q = (1.0 + 2.0 * (s1 + s2)) / m / (4.0 * m) + gap;   /* Q / (4 m^2) */
  double root = sqrt(q);
  *k = (2.0 / NT_PI) * atan2(c / m, root);
  *kdot = (2.0 / NT_PI) / (m * root);
}

/* a erf(b u) + c: the unit duals at variances scaled by b^2 (E[erf] = 0, so
   the shift only adds c^2). */
static void erf_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                     double *k, double *kdot)
{
  double a = op->p1, b = op->p2, shift = op->p3, b2 = b * b;
  double k0, kd0;
  erf_unit_dual(b2 * s1, b2 * s2, fabs(b) * r1, fabs(b) * r2, b2 * c, &k0, &kd0);
  *k = a * a * k0 + shift * shift;
  *kdot = a * a * b2 * kd0;
}

/* GELU, u * Phi(u) with the exact normal CDF.  Writing u Phi(u) =
   E[u 1{g <= u}] with g ~ N(0, 1) independent reduces the expectation to
   truncated moments of a bivariate normal; the derivative kernel follows by
   Price's theorem, E[phi'(u) phi'(v)] = d/dc E[phi(u) phi(v)].  With
   S_i = 1 + s_i, w = s1 s2 - c^2 and D = S1 S2 - c^2 = 1 + s1 + s2 + w:
     K    = c P + (s1 s2 D + c^2) / (2 pi S1 S2 sqrt(D)),
     Kdot = P + c Q / (2 pi S1 S2 D^1.5),
   P = 1/4 + atan2(c, sqrt(D)) / (2 pi),
   Q = w (S1 + S2) + (s1 + s2 + 1)(s1 + s2 + 3) + s1 s2,
   sums of non-negative terms.  Everything is scaled by m = max(1, sqrt(s1 s2))
   (tilde quantities, e = 1/m) so that huge variances do not overflow. */
static void gelu_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                      double *k, double *kdot)
{
  (void) op;
  double p = r1 * r2;
  double m = p > 1.0 ? p : 1.0, e = 1.0 / m;
  double t1 = s1 / m, t2 = s2 / m, tc = c / m, tp = p / m;
  double tw = pair_gap(tp, tc, 1.0);
  double h1 = e + t1, h2 = e + t2;                  /* S_i / m */
  double tD = e * (e + t1 + t2) + tw;               /* D / m^2 */
  double rD = sqrt(tD);
  double P = 0.25 + atan2(tc, rD) / NT_2PI;
  *k = c * P + (m * t1 * t2 * tD + e * tc * tc) / (NT_2PI * h1 * h2 * rD);
  double ts = t1 + t2;
  double tQ = tw * (h1 + h2) + e * ((ts + e) * (ts + 3.0 * e) + t1 * t2);   /* Q / m^3 */
  *kdot = P + (tc / h1) * (tQ / h2) / (NT_2PI * m * tD * rD);
}

/* Cubic Hermite interpolation inside a cell, from the cell's own one-sided
   values and slopes at both ends: exact for piecewise-cubic phi with kinks
   or jumps on grid nodes, O(h^4) elsewhere. */
static inline void table_read(const nt_table *t, double u, double *f, double *df)
{
  /* The self-variance pass guarantees the range; clamping only keeps every
     read inside the table. */
  double pos = (u - t->lo) * t->inv_h;
  if (!(pos > 0)) pos = 0;
  if (pos > t->cells) pos = t->cells;
  int i = (int) pos;
  if (i >= t->cells) i = t->cells - 1;
  double s = pos - i, s2 = s * s, s3 = s2 * s;
  double h00 = 2 * s3 - 3 * s2 + 1, h01 = 3 * s2 - 2 * s3;
  double h10 = (s3 - 2 * s2 + s) * t->h, h11 = (s3 - s2) * t->h;
  const double *v = t->vals + 6 * (size_t) i;
  *f = h00 * v[0] + h01 * v[1] + h10 * v[2] + h11 * v[3];
  *df = h00 * v[2] + h01 * v[3] + h10 * v[4] + h11 * v[5];
}

/* phi and phi' of a tabulated activation for finite networks: from the
   table inside its range (about 8 standard deviations of the largest
   pre-activation variance of the infinite-width network), extended by its
   tangent beyond, where a finite network's pre-activations come with
   probability below 1e-15 per unit. */
static double table_value(const nt_op *op, double u, double *deriv)
{
  const nt_table *t = op->table;
  double hi = t->lo + t->cells * t->h, f, df;
  double at = u < t->lo ? t->lo : u > hi ? hi : u;
  table_read(t, at, &f, &df);
  *deriv = df;
  return f + df * (u - at);
}

double nt_table_reach(const nt_table *t, double s)
{
  return sqrt(s) * t->rad_x[t->nrad - 1];
}

/* (u, v) = (a r cos psi, b r cos(psi - theta)) with (r, psi) the polar form
   of a standard 2-d normal.  phi(u) and phi(v) change sign only where
   cos psi or cos(psi - theta) does, so the circle is cut there and each arc
   integrated by Gauss-Legendre; the radial integral uses the Gauss rule for
   the weight r exp(-r^2/2).  Smooth pieces converge exponentially; a
   piecewise-linear phi with its kink at 0 (ReLU) is integrated exactly. */
static void table_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                       double *k, double *kdot)
{
  const nt_table *t = op->table;
  (void) s1; (void) s2;
  double rho = nt_pair_rho(r1, r2, c);
  double theta = acos(rho);
  double cut[5];
  cut[0] = 0.5 * NT_PI;
  cut[1] = 1.5 * NT_PI;
  cut[2] = fmod(theta + 0.5 * NT_PI, NT_2PI);
  cut[3] = fmod(theta + 1.5 * NT_PI, NT_2PI);
  for (int i = 1; i < 4; i++)            /* insertion sort of four angles */
    for (int j = i; j > 0 && cut[j] < cut[j - 1]; j--) {
      double tmp = cut[j]; cut[j] = cut[j - 1]; cut[j - 1] = tmp;
    }
  cut[4] = cut[0] + NT_2PI;
  double sk = 0, skd = 0;
  for (int arc = 0; arc < 4; arc++) {
    double half = 0.5 * (cut[arc + 1] - cut[arc]);
    if (half <= 0) continue;
    double mid = 0.5 * (cut[arc + 1] + cut[arc]);
    for (int i = 0; i < t->nang; i++) {
      double psi = mid + half * t->ang_x[i];
      double cu = r1 * cos(psi), cv = r2 * cos(psi - theta);
      double ak = 0, akd = 0;
      for (int j = 0; j < t->nrad; j++) {
        double fu, dfu, fv, dfv;
        table_read(t, cu * t->rad_x[j], &fu, &dfu);
        table_read(t, cv * t->rad_x[j], &fv, &dfv);
        ak += t->rad_w[j] * fu * fv;
        akd += t->rad_w[j] * dfu * dfv;
      }
      sk += half * t->ang_w[i] * ak;
      skd += half * t->ang_w[i] * akd;
    }
  }
  *k = sk / NT_2PI;
  *kdot = skd / NT_2PI;
}

static void identity_dual(const nt_op *op, double s1, double s2, double r1, double r2,
                          double c, double *k, double *kdot)
{
  (void) op; (void) s1; (void) s2; (void) r1; (void) r2;
  *k = c;
  *kdot = 1.0;
}

static double erf_value(const nt_op *op, double u, double *deriv)
{
  double a = op->p1, b = op->p2;
  *deriv = a * b * M_2_SQRTPI * exp(-b * b * u * u);
  return a * erf(b * u) + op->p3;
}

static double gelu_value(const nt_op *op, double u, double *deriv)
{
  (void) op;
  double cdf = 0.5 * erfc(-u * M_SQRT1_2);
  *deriv = cdf + u * exp(-0.5 * u * u) / sqrt(2 * M_PI);
  return u * cdf;
}

static double identity_value(const nt_op *op, double u, double *deriv)
{
  (void) op;
  *deriv = 1.0;
  return u;
}

/* a sin(b u + c): with A = b u + c, B = b v + c, sin A sin B and cos A cos B
   are (cos(A - B) -+ cos(A + B)) / 2, and for a centred Gaussian X,
   E cos(X + d) = cos(d) exp(-Var X / 2). */
static void sin_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                     double *k, double *kdot)
{
  (void) s1; (void) s2;
  double a = op->p1, b2 = op->p2 * op->p2;
  /* Var(u -+ v) = (r1 - r2)^2 + 2 (r1 r2 -+ c), with c within 4 ulps of
     +-r1 r2 snapped (as in pair_gap): at large variances the rounding of
     the Gram matrix would otherwise decide the kernel of parallel inputs */
  double p = r1 * r2, tol = 4.0 * DBL_EPSILON * p, dr = (r1 - r2) * (r1 - r2);
  double gm = p - c, gp = p + c;
  double minus = dr + 2.0 * (fabs(gm) <= tol ? 0.0 : gm), plus = dr + 2.0 * (fabs(gp) <= tol ? 0.0 : gp);
  double near = exp(-0.5 * b2 * (minus > 0 ? minus : 0.0));
  double far = cos(2.0 * op->p3) * exp(-0.5 * b2 * (plus > 0 ? plus : 0.0));
  *k = a * a * 0.5 * (near - far);
  *kdot = a * a * b2 * 0.5 * (near + far);
}

static double sin_value(const nt_op *op, double u, double *deriv)
{
  *deriv = op->p1 * op->p2 * cos(op->p2 * u + op->p3);
  return op->p1 * sin(op->p2 * u + op->p3);
}

/* a exp(b u): the moment generating function of u + v. */
static void exp_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                     double *k, double *kdot)
{
  (void) r1; (void) r2;
  double a2 = op->p1 * op->p1, b2 = op->p2 * op->p2;
  double e = exp(0.5 * b2 * (s1 + s2 + 2.0 * c));
  *k = a2 * e;
  *kdot = a2 * b2 * e;
}

static double exp_value(const nt_op *op, double u, double *deriv)
{
  double v = op->p1 * exp(op->p2 * u);
  *deriv = op->p2 * v;
  return v;
}

/* a exp(b u^2): for (u, v) ~ N(0, S), E exp(b (u^2 + v^2)) = det(I - 2 b S)^(-1/2)
   and E[u v exp(b (u^2 + v^2))] = c det(I - 2 b S)^(-3/2); infinite where
   I - 2 b S is not positive definite (b > 0 and a variance >= 1 / (2 b)). */
static void gaussian_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                          double *k, double *kdot)
{
  double a2 = op->p1 * op->p1, b = op->p2;
  double m1 = 1.0 - 2.0 * b * s1, m2 = 1.0 - 2.0 * b * s2;
  /* det = 1 - 2 b (s1 + s2) + 4 b^2 (s1 s2 - c^2), the last factor from
     pair_gap (snapped for parallel inputs, never negative) */
  double p = r1 * r2, m = p > 1.0 ? p : 1.0;
  double det = 1.0 - 2.0 * b * (s1 + s2) + 4.0 * b * b * m * m * pair_gap(p, c, m);
  if (m1 <= 0 || m2 <= 0 || det <= 0) {
    *k = INFINITY;
    *kdot = INFINITY;
    return;
  }
  double root = sqrt(det);
  *k = a2 / root;
  *kdot = 4.0 * a2 * b * b * c / (det * root);
}

static double gaussian_value(const nt_op *op, double u, double *deriv)
{
  double v = op->p1 * exp(op->p2 * u * u);
  *deriv = 2.0 * op->p2 * u * v;
  return v;
}

/* sign(u): E = (2 / pi) asin(rho); its derivative is 0 almost everywhere,
   so it adds nothing to the NTK (as in neural-tangents). */
static void sign_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                      double *k, double *kdot)
{
  (void) op; (void) s1; (void) s2;
  /* snapped: asin's infinite slope at 1 turns one ulp of rho into 1e-8 */
  *k = (2.0 / NT_PI) * asin(nt_pair_rho(r1, r2, c));
  *kdot = 0.0;
}

static double sign_value(const nt_op *op, double u, double *deriv)
{
  (void) op;
  *deriv = 0.0;
  return (u > 0) - (u < 0);
}

/* x^n for a small whole n (no R API: these run on worker threads). */
static double int_power(double x, int n)
{
  double out = 1.0;
  for (int i = 0; i < n; i++) out *= x;
  return out;
}

/* Degrees of the monomials: integers 0..NT_MAX_DEGREE. */
#define NT_MAX_DEGREE 20
static const char *degree_check(const nt_op *op)
{
  if (op->p1 < 0 || op->p1 > NT_MAX_DEGREE || op->p1 != floor(op->p1))
    return "the degree must be a whole number from 0 to 20";
  return NULL;
}

/* Cho and Saul's arc-cosine integrals J_0..J_n at rho = cos(theta), from
   J_0 = pi - theta, J_1 = sin(theta) + (pi - theta) rho and
   J_{m+1} = (2m + 1) rho J_m + m^2 (1 - rho^2) J_{m-1}
   (the recursion follows from J_m' (in rho) = m^2 J_{m-1}, Price's theorem). */
static double arccos_integral(int n, double rho)
{
  double theta = acos(rho), prev = NT_PI - theta;
  if (n == 0) return prev;
  double cur = sqrt(1.0 - rho * rho) + prev * rho;
  for (int m = 1; m < n; m++) {
    double next = (2.0 * m + 1.0) * rho * cur + (double) m * m * (1.0 - rho * rho) * prev;
    prev = cur;
    cur = next;
  }
  return cur;
}

/* u^k 1[u > 0]: E = (r1 r2)^k J_k / (2 pi); the derivative k u^(k-1) 1[u > 0]
   gives k^2 (r1 r2)^(k-1) J_{k-1} / (2 pi) (0 for the step, k = 0). */
static void rectified_monomial_dual(const nt_op *op, double s1, double s2, double r1, double r2,
                                    double c, double *k, double *kdot)
{
  (void) s1; (void) s2;
  int deg = (int) op->p1;
  double p = r1 * r2;
  if (!(p > 0)) {            /* a zero input: phi(0) = 0 */
    *k = 0.0;
    *kdot = 0.0;
    return;
  }
  double rho = nt_pair_rho(r1, r2, c);   /* snapped: J_0 = pi - acos(rho) */
  *k = int_power(p, deg) * arccos_integral(deg, rho) / NT_2PI;
  *kdot = deg == 0 ? 0.0 : (double) deg * deg * int_power(p, deg - 1) * arccos_integral(deg - 1, rho) / NT_2PI;
}

static double rectified_monomial_value(const nt_op *op, double u, double *deriv)
{
  int deg = (int) op->p1;
  if (!(u > 0)) {
    *deriv = 0.0;
    return 0.0;
  }
  *deriv = deg == 0 ? 0.0 : deg * int_power(u, deg - 1);
  return int_power(u, deg);
}

/* E[u^k v^k] for (u, v) ~ N(0, [[s1, c], [c, s2]]) (Isserlis): the sum over
   j = k, k - 2, ... of (k!)^2 / (j! h!^2 2^(2h)) c^j (s1 s2)^h, h = (k - j) / 2;
   the coefficients by their ratio j (j - 1) / (4 (h + 1)^2), from k! at j = k. */
static double monomial_moment(int deg, double s1, double s2, double c)
{
  double coef = 1.0;
  for (int i = 2; i <= deg; i++) coef *= i;
  double sum = 0.0;
  for (int j = deg, h = 0; j >= 0; j -= 2, h++) {
    sum += coef * int_power(c, j) * int_power(s1 * s2, h);
    coef *= (double) j * (j - 1) / (4.0 * (h + 1) * (h + 1));
  }
  return sum;
}

/* u^k: E[u^k v^k] and, for the derivative k u^(k-1), k^2 E[u^(k-1) v^(k-1)]. */
static void monomial_dual(const nt_op *op, double s1, double s2, double r1, double r2, double c,
                          double *k, double *kdot)
{
  (void) r1; (void) r2;
  int deg = (int) op->p1;
  *k = monomial_moment(deg, s1, s2, c);
  *kdot = deg == 0 ? 0.0 : (double) deg * deg * monomial_moment(deg - 1, s1, s2, c);
}

static double monomial_value(const nt_op *op, double u, double *deriv)
{
  int deg = (int) op->p1;
  *deriv = deg == 0 ? 0.0 : deg * int_power(u, deg - 1);
  return int_power(u, deg);
}

/* E[p(u) q(v)] for polynomials p = sum a_k u^k, q = sum b_k v^k (n
   coefficients each) and (u, v) ~ N(0, [[s1, c], [c, s2]]), by the Hermite
   expansion: p(sqrt(s1) z) = sum_m c_m He_m(z) with c_m = s1^(m/2) d_m(s1),
   d_m(s) = sum_j a_(m+2j) s^j (m+2j)! / (m! j! 2^j), and E[He_m He_m'] of
   standard normals with correlation rho is m! rho^m [m = m'], so
   E = sum_m m! d_m(s1) d'_m(s2) c^m: no square root, no division, exact at
   zero variance and at parallel inputs. */
static double polynomial_moment(const double *a, const double *b, int n, double s1, double s2,
                                double c)
{
  double sum = 0.0, m_fact = 1.0, c_pow = 1.0;
  for (int m = 0; m < n; m++) {
    double da = 0.0, db = 0.0, t = 1.0, s1_pow = 1.0, s2_pow = 1.0;
    for (int j = 0; m + 2 * j < n; j++) {   /* t = (m+2j)! / (m! j! 2^j) */
      da += a[m + 2 * j] * s1_pow * t;
      db += b[m + 2 * j] * s2_pow * t;
      t *= (double) (m + 2 * j + 1) * (m + 2 * j + 2) / (2.0 * (j + 1));
      s1_pow *= s1;
      s2_pow *= s2;
    }
    sum += m_fact * da * db * c_pow;
    m_fact *= m + 1;
    c_pow *= c;
  }
  return sum;
}

/* sum a_k u^k: E[phi phi] and, for phi' = sum (k + 1) a_(k+1) u^k, E[phi' phi']. */
static void polynomial_dual(const nt_op *op, double s1, double s2, double r1, double r2,
                            double c, double *k, double *kdot)
{
  (void) r1; (void) r2;
  double deriv[NT_MAX_POLY_COEF];
  int n = (int) op->ncoef;
  for (int i = 0; i + 1 < n; i++) deriv[i] = (i + 1) * op->coef[i + 1];
  *k = polynomial_moment(op->coef, op->coef, n, s1, s2, c);
  *kdot = n > 1 ? polynomial_moment(deriv, deriv, n - 1, s1, s2, c) : 0.0;
}

static double polynomial_value(const nt_op *op, double u, double *deriv)
{
  double v = 0.0, d = 0.0;
  for (int i = (int) op->ncoef - 1; i >= 0; i--) {   /* Horner, the derivative alongside */
    d = d * u + v;
    v = v * u + op->coef[i];
  }
  *deriv = d;
  return v;
}

/* Registry entries: code, name, kind, variances, dual, value, and the
   engines' steps (every engine's elementwise step calls the hooks; ABReLU
   has its own vectorised step in the fully connected engine). */
const nt_op_info nt_elementwise_ops[] = {
  {NT_OP_ABRELU, "abrelu", NT_KIND_ELEMENTWISE | NT_KIND_HOMOGENEOUS, 0, abrelu_dual,
   abrelu_value, nt_fc_abrelu, nt_conv_elementwise, nt_fl_elementwise_forward,
   nt_fl_elementwise_backward},
  {3, "erf", NT_KIND_ELEMENTWISE, 0, erf_dual, erf_value, NT_ELEMENTWISE_STEPS},
  {4, "gelu", NT_KIND_ELEMENTWISE, 0, gelu_dual, gelu_value, NT_ELEMENTWISE_STEPS},
  {5, "identity", NT_KIND_ELEMENTWISE | NT_KIND_HOMOGENEOUS, 0, identity_dual, identity_value,
   NT_ELEMENTWISE_STEPS},
  {NT_OP_TABLE, "table", NT_KIND_ELEMENTWISE, 0, table_dual, table_value, NT_ELEMENTWISE_STEPS},
  {16, "sin", NT_KIND_ELEMENTWISE, 0, sin_dual, sin_value, NT_ELEMENTWISE_STEPS},
  {17, "exp", NT_KIND_ELEMENTWISE, 0, exp_dual, exp_value, NT_ELEMENTWISE_STEPS},
  {18, "gaussian", NT_KIND_ELEMENTWISE, 0, gaussian_dual, gaussian_value, NT_ELEMENTWISE_STEPS},
  {19, "sign", NT_KIND_ELEMENTWISE, 0, sign_dual, sign_value, NT_ELEMENTWISE_STEPS},
  {20, "rectified_monomial", NT_KIND_ELEMENTWISE, 0, rectified_monomial_dual,
   rectified_monomial_value, NT_ELEMENTWISE_STEPS, degree_check},
  {21, "monomial", NT_KIND_ELEMENTWISE, 0, monomial_dual, monomial_value, NT_ELEMENTWISE_STEPS,
   degree_check},
  {NT_OP_POLY, "polynomial", NT_KIND_ELEMENTWISE, 0, polynomial_dual, polynomial_value,
   NT_ELEMENTWISE_STEPS}
};
const int nt_n_elementwise_ops = (int) (sizeof(nt_elementwise_ops) / sizeof(nt_elementwise_ops[0]));
