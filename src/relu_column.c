/* ABReLU duals (with the dense layer after them) down a column of pairs, as
   one loop the compiler vectorises.
   src/Makevars compiles this file alone with -fno-math-errno and
   -fno-trapping-math: errno and trapping semantics are all that keep gcc
   from vectorising sqrt and the selects below.  The arccos is a branch-free
   polynomial, since libm's acos cannot be vectorised. */
#include "ntk.h"

/* Vector clones (ntk.h): each of AVX-512 and fused multiply-adds (for the
   polynomial) halves the time of this loop. */
NT_VECTOR_CLONES
void nt_abrelu_column(double a, double b, const double *r1, const double *ir1, double r2,
                      double ir2, double *k, double *t, int rows, const nt_op *dense)
{
  const double pi = 3.14159265358979323846, half_pi = 1.57079632679489661923;
  const double inv_2pi = 0.15915494309189533577;
  const double sq = a * a + b * b, ab2 = 2.0 * a * b;
  const double w = dense ? dense->p1 : 1.0, bias = dense ? dense->p2 : 0.0;
  const double keep = dense && dense->trainable ? 1.0 : 0.0;
#ifdef _OPENMP
#pragma omp simd
#endif
  for (int i = 0; i < rows; i++) {
    /* 0 for a zero variance; k ir1 <= r2 by Cauchy-Schwarz, while ir1 ir2
       overflows for tiny variances (and 0 * Inf is NaN) */
    double rho = k[i] * ir1[i] * ir2;
    rho = rho >= 1.0 - 4.0 * DBL_EPSILON ? 1.0 : rho;
    rho = rho <= -1.0 + 4.0 * DBL_EPSILON ? -1.0 : rho;
    /* arccos without branches: asin(t) = t + t^3 f(t^2) on [0, 1/2], f a degree-11 least-squares polynomial fitted on
       Chebyshev nodes to f's Taylor series (within 1 ulp of glibc's asin),
       and acos(x) = 2 asin(sqrt((1 - x) / 2)) above 1/2. */
    double ax = fabs(rho), tail = sqrt(0.5 * (1.0 - ax));
    double u0 = ax > 0.5 ? tail : ax, u = u0 * u0;
    double f = 2.81979995551585455e-02;
    f = f * u - 1.07825543034859670e-02;
    f = f * u + 1.60510781072580287e-02;
    f = f * u + 7.79950351816518974e-03;
    f = f * u + 1.18757495033889934e-02;
    f = f * u + 1.39296985400984372e-02;
    f = f * u + 1.73552468433159114e-02;
    f = f * u + 2.23720490322630965e-02;
    f = f * u + 3.03819472897009189e-02;
    f = f * u + 4.46428571056165860e-02;
    f = f * u + 7.50000000001803946e-02;
    f = f * u + 1.66666666666666685e-01;
    double as = u0 + u0 * u * f;
    double far = rho > 0 ? 2.0 * as : pi - 2.0 * as;
    double near = rho > 0 ? half_pi - as : half_pi + as;
    double th = ax > 0.5 ? far : near;
    double st = sqrt((1.0 - rho) * (1.0 + rho));
    double even = st + (pi - th) * rho, odd = st - th * rho;
    double kk = r1[i] * r2 * (sq * even - ab2 * odd) * inv_2pi;
    double tt = t[i] * (sq * (pi - th) + ab2 * th) * inv_2pi;
    kk = w * kk + bias;                          /* the dense layer that follows */
    k[i] = kk;
    t[i] = w * tt + keep * kk;
  }
}

/* The partials of an ABReLU (ReLU, leaky ReLU, abs) layer on a column
   block, for the kernel gradients (gradient.c): F and G from
   nt_abrelu_column(), c the covariances before it.  F is homogeneous of degree 1 and G of degree 0 in
   (u, v), so Euler's identity gives the variance partials from the
   covariance ones: F_1 = (F - c G) / (2 s1), G_1 = -c G_c / (2 s1), with
   G_c = (a - b)^2 / (2 pi sqrt(s1 s2 - c^2)).  At parallel pairs (rho =
   +-1) and zero variances G is not differentiable; its terms are 0 there,
   which is exact for an input with itself (rho stays 1 under every
   parameter). */
NT_VECTOR_CLONES
void nt_abrelu_partials(double a, double b, int rows, const double *c, const double *F,
                        const double *G, const double *ir1, double ir2, double *f1, double *f2,
                        double *gc, double *g1, double *g2)
{
  /* 1 / s = (1 / sqrt(s))^2: no division per entry (0 for a zero variance) */
  double ab = (a - b) * (a - b) * 0.15915494309189533577;
  double h2 = 0.5 * ir2 * ir2;
#ifdef _OPENMP
#pragma omp simd
#endif
  for (int i = 0; i < rows; i++) {
    double e = F[i] - c[i] * G[i], h1 = 0.5 * ir1[i] * ir1[i];
    f1[i] = e * h1;
    f2[i] = e * h2;
    double rho = c[i] * ir1[i] * ir2;
    rho = rho >= 1.0 - 4.0 * DBL_EPSILON ? 1.0 : rho;
    rho = rho <= -1.0 + 4.0 * DBL_EPSILON ? -1.0 : rho;
    double gap = (1.0 - rho) * (1.0 + rho);
    double d = gap > 0 ? ab * ir1[i] * ir2 / sqrt(gap) : 0.0;
    gc[i] = d;
    g1[i] = -c[i] * d * h1;
    g2[i] = -c[i] * d * h2;
  }
}

