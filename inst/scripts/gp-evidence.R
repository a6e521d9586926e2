# Hyper-parameters by evidence against grid search: Gaussian processes with
# NNGP and NTK covariance fitted by nt_gp_fit() (with and without one
# relevance per input), nt_fit() with its depth chosen by leave-one-out
# error (grid search, the ridge by exact LOO), kernlab's gausspr() with its
# automatic RBF width (sigest), and a Gaussian process with an ARD RBF
# kernel fitted by evidence (written below: the same log marginal
# likelihood, its exact gradient and L-BFGS-B from several starts), on
# four regression datasets with the same 5 folds for every method; then a
# synthetic problem whose informative inputs are known.
#
#   Rscript inst/scripts/gp-evidence.R [out_dir]    (757 s on one core here, 1 thread)
#
# Writes gp-evidence.csv (per dataset, method and fold: test RMSE and the
# negative log predictive density), gp-relevance.csv (the synthetic case)
# and gp-evidence-info.txt (seconds, session).
suppressPackageStartupMessages({library(ntk); library(kernlab)})
args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args)) args[1] else "inst/results"
nt_threads(1)
started <- Sys.time()

data(BostonHousing, package = "mlbench")
boston <- BostonHousing
boston$chas <- as.numeric(boston$chas) - 1
air <- stats::na.omit(datasets::airquality[, c("Ozone", "Solar.R", "Wind", "Temp")])
sets <- list(
  boston = list(data = boston, formula = medv ~ .),
  mtcars = list(data = datasets::mtcars, formula = mpg ~ .),
  swiss = list(data = datasets::swiss, formula = Fertility ~ .),
  airquality = list(data = air, formula = Ozone ~ .))

# ---- a Gaussian process with an ARD RBF kernel, fitted by evidence -------
# k(x, z) = s2 exp(-sum_k (x_k - z_k)^2 / (2 l_k^2)), noise v; on standardised
# inputs and response; parameters on the log scale, boxes as nt_gp_fit's.
rbf_gp_fit <- function(x, y, starts = 3) {
  center <- colMeans(x); spread <- apply(x, 2, stats::sd); spread[!(spread > 0)] <- 1
  xs <- scale(x, center, spread); ym <- mean(y); ysd <- stats::sd(y); ys <- (y - ym) / ysd
  d <- ncol(x); n <- nrow(x)
  sq <- lapply(seq_len(d), function(k) outer(xs[, k], xs[, k], "-")^2)
  evidence <- function(theta) {
    l2 <- exp(2 * theta[1:d]); s2 <- exp(theta[d + 1]); v <- exp(theta[d + 2])
    E <- Reduce(`+`, Map(function(D, l) D / l, sq, l2)) / 2
    K <- s2 * exp(-E)
    A <- K + diag(v, n)
    R <- chol(A)
    alpha <- backsolve(R, backsolve(R, ys, transpose = TRUE))
    W <- tcrossprod(alpha) - chol2inv(R)
    grad <- c(vapply(seq_len(d), function(k) 0.5 * sum(W * K * sq[[k]] / l2[k]), 1),
              0.5 * sum(W * K), 0.5 * sum(diag(W)) * v)
    list(value = -0.5 * sum(ys * alpha) - sum(log(diag(R))) - 0.5 * n * log(2 * pi), grad = grad,
         alpha = alpha, R = R)
  }
  lower <- c(rep(log(1e-2), d), log(1e-3), log(1e-6)); upper <- c(rep(log(1e3), d), log(1e2), log(10))
  best <- NULL
  for (s in seq_len(starts)) {
    theta0 <- if (s == 1) c(rep(log(sqrt(d)), d), 0, log(0.1)) else stats::runif(d + 2, lower, upper)
    run <- tryCatch(stats::optim(theta0, function(t) -evidence(t)$value, function(t) -evidence(t)$grad,
                                 method = "L-BFGS-B", lower = lower, upper = upper),
                    error = function(e) NULL)
    if (!is.null(run) && (is.null(best) || run$value < best$value)) best <- run
  }
  fit <- evidence(best$par)
  list(theta = best$par, fit = fit, center = center, spread = spread, ym = ym, ysd = ysd, xs = xs, d = d)
}

rbf_gp_predict <- function(model, x_new) {
  xn <- scale(x_new, model$center, model$spread)
  d <- model$d; th <- model$theta
  l <- exp(th[1:d]); s2 <- exp(th[d + 1]); v <- exp(th[d + 2])
  dist <- Reduce(`+`, lapply(seq_len(d), function(k) outer(xn[, k], model$xs[, k], "-")^2 / l[k]^2)) / 2
  Ks <- s2 * exp(-dist)
  vv <- backsolve(model$fit$R, t(Ks), transpose = TRUE)
  list(fit = model$ym + model$ysd * drop(Ks %*% model$fit$alpha),
       sd = model$ysd * sqrt(pmax(s2 - colSums(vv^2), 0) + v))
}

# ---- the comparison ------------------------------------------------------
nlpd <- function(y, mean, sd) -mean(stats::dnorm(y, mean, sd, log = TRUE))
rows <- list()
for (name in names(sets)) {
  set <- sets[[name]]
  d <- set$data
  yname <- all.vars(set$formula)[1]
  x_all <- as.matrix(d[, setdiff(names(d), yname)])
  y_all <- d[[yname]]
  set.seed(2026)
  folds <- sample(rep(1:5, length.out = nrow(d)))
  for (f in 1:5) {
    tr <- folds != f
    y_te <- y_all[!tr]
    record <- function(method, mean, sd, seconds)
      rows[[length(rows) + 1L]] <<- data.frame(dataset = name, n = nrow(d), d = ncol(x_all), fold = f,
                                               method = method, rmse = sqrt(mean((mean - y_te)^2)),
                                               nlpd = nlpd(y_te, mean, sd), seconds = seconds)
    for (kernel in c("nngp", "ntk")) for (rel in c(FALSE, TRUE)) {
      if (kernel == "ntk" && rel) next
      t0 <- Sys.time()
      fit <- nt_gp_fit(set$formula, data = d[tr, ], kernel = kernel, starts = 3, seed = f,
                       optimise = c("w_var", "b_var", "noise", if (rel) "relevance"))
      p <- predict(fit, d[!tr, ], se.fit = TRUE)
      record(sprintf("nt_gp_fit %s%s", toupper(kernel), if (rel) " + relevance" else ""), p$fit,
             sqrt(p$se.fit^2 + p$residual.scale^2), as.numeric(Sys.time() - t0, units = "secs"))
    }
    t0 <- Sys.time()
    grid <- lapply(1:4, function(depth) nt_fit(set$formula, data = d[tr, ], net = nt_fc(depth, b_var = 0.1)))
    loo <- vapply(grid, function(g) min(g$loo$score), numeric(1))
    best <- grid[[which.min(loo)]]
    record("nt_fit, depth by LOO", predict(best, d[!tr, ]), rep(sqrt(min(loo)), sum(!tr)),
           as.numeric(Sys.time() - t0, units = "secs"))
    t0 <- Sys.time()
    gp <- suppressMessages(gausspr(set$formula, data = d[tr, ], variance.model = TRUE))
    mean_gp <- as.numeric(predict(gp, d[!tr, ]))
    sd_gp <- sqrt(as.numeric(predict(gp, d[!tr, ], type = "sdeviation"))^2 +
                  mean((as.numeric(predict(gp, d[tr, ])) - y_all[tr])^2))
    record("gausspr (RBF, sigest)", mean_gp, sd_gp, as.numeric(Sys.time() - t0, units = "secs"))
    t0 <- Sys.time()
    rbf <- rbf_gp_fit(x_all[tr, , drop = FALSE], y_all[tr])
    p <- rbf_gp_predict(rbf, x_all[!tr, , drop = FALSE])
    record("RBF ARD GP by evidence", p$fit, p$sd, as.numeric(Sys.time() - t0, units = "secs"))
    cat(name, "fold", f, "done\n")
  }
}
results <- do.call(rbind, rows)
utils::write.csv(results, file.path(out_dir, "gp-evidence.csv"), row.names = FALSE)

# ---- relevance on a synthetic problem --------------------------------------
set.seed(7)
n <- 150
x <- matrix(rnorm(n * 8), n, dimnames = list(NULL, paste0("x", 1:8)))
y <- sin(2 * x[, 1]) + 0.5 * x[, 2]^2 + x[, 3] * x[, 4] / 2 + rnorm(n, sd = 0.1)
fit <- nt_gp_fit(x, y, optimise = c("w_var", "b_var", "noise", "relevance"), starts = 3, seed = 1)
rbf <- rbf_gp_fit(x, y)
relevance <- data.frame(input = colnames(x), informative = 1:8 <= 4,
                        ntk_relevance = unname(fit$relevance),
                        rbf_inverse_sq_lengthscale = exp(-2 * rbf$theta[1:8]))
utils::write.csv(relevance, file.path(out_dir, "gp-relevance.csv"), row.names = FALSE)

writeLines(c(sprintf("gp-evidence.R: %.0f s in all, one thread, %s", as.numeric(Sys.time() - started, units = "secs"),
                     format(Sys.time(), "%Y-%m-%d")),
             utils::capture.output(utils::sessionInfo())),
           file.path(out_dir, "gp-evidence-info.txt"))
