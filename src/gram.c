/* The Gram matrix of the fully connected kernels' inputs: BLAS, or a
   register-blocked loop (8 rows x 4 columns of the output accumulated in
   registers, with AVX-512 or AVX2 + FMA clones where the CPU has them)
   that is 2 to 6 times as fast as the reference BLAS R often runs on, and
   usually slower than an optimised one.  Which is used is an argument of
   the entry points, chosen in R (option ntk.gram; see R/gram.R). Also the
   mirroring of symmetric results, shared by the engines. */
#include "ntk.h"

/* One entry, for the rows and columns left over by the blocks. */
static inline double gram_entry(const double *x, int ldx, const double *z, int ldz, int i, int j,
                                int d, double alpha)
{
  double s = 0;
  for (int c = 0; c < d; c++) s += x[i + (size_t) ldx * c] * z[j + (size_t) ldz * c];
  return alpha * s;
}

NT_VECTOR_CLONES
static void gram_native(const double *x, int ldx, const double *z, int ldz, int rows, int cols,
                        int d, double alpha, double *out, int ldo)
{
  int j = 0;
  for (; j + 4 <= cols; j += 4) {
    int i = 0;
    for (; i + 8 <= rows; i += 8) {
      double a0[8] = {0}, a1[8] = {0}, a2[8] = {0}, a3[8] = {0};
      for (int c = 0; c < d; c++) {
        const double *xc = x + i + (size_t) ldx * c, *zc = z + j + (size_t) ldz * c;
        double z0 = zc[0], z1 = zc[1], z2 = zc[2], z3 = zc[3];
        for (int r = 0; r < 8; r++) {
          a0[r] += xc[r] * z0;
          a1[r] += xc[r] * z1;
          a2[r] += xc[r] * z2;
          a3[r] += xc[r] * z3;
        }
      }
      double *o = out + i + (size_t) ldo * j;
      for (int r = 0; r < 8; r++) {
        o[r] = alpha * a0[r];
        o[r + (size_t) ldo] = alpha * a1[r];
        o[r + 2 * (size_t) ldo] = alpha * a2[r];
        o[r + 3 * (size_t) ldo] = alpha * a3[r];
      }
    }
    for (; i < rows; i++)
      for (int jj = j; jj < j + 4; jj++)
        out[i + (size_t) ldo * jj] = gram_entry(x, ldx, z, ldz, i, jj, d, alpha);
  }
  for (; j < cols; j++)
    for (int i = 0; i < rows; i++)
      out[i + (size_t) ldo * j] = gram_entry(x, ldx, z, ldz, i, j, d, alpha);
}

/* out[i + ldo * j] = alpha * sum_c x[i + ldx * c] * z[j + ldz * c] for
   i < rows, j < cols (x: rows x d, z: cols x d, column-major). */
void nt_gram(const double *x, int ldx, const double *z, int ldz, int rows, int cols, int d,
             double alpha, double *out, int ldo, int native)
{
  if (native) {
    gram_native(x, ldx, z, ldz, rows, cols, d, alpha, out, ldo);
    return;
  }
  double beta = 0.0;
  F77_CALL(dgemm)("N", "T", &rows, &cols, &d, &alpha, x, &ldx, z, &ldz, &beta, out, &ldo
                  FCONE FCONE);
}

/* Copy the upper triangle of the n x n matrix a into its lower one, in
   tiles for the cache (the symmetric kernels of every engine). */
void nt_mirror_upper(double *a, int n, int nth)
{
  const int tile = 64;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
#endif
  for (int jb = 0; jb < n; jb += tile)
    for (int ib = 0; ib <= jb; ib += tile)
      for (int j = jb; j < jb + tile && j < n; j++)
        for (int i = ib; i < ib + tile && i < j; i++)
          a[j + (size_t) n * i] = a[i + (size_t) n * j];
  (void) nth;
}
