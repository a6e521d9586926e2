# Finite networks against their kernels, at widths too large for a vignette:
# writes the CSV files that vignettes/dynamics.Rmd reads.
#
#   jacot-fig1.csv  Jacot et al. (2018), Figure 1: the empirical NTK
#                   Theta(x0, (cos g, sin g)) of depth-4 ReLU networks
#                   (beta = 0.1), widths 500 and 10000, 10 networks each, at
#                   initialisation and after gradient descent; and the limit.
#   jacot-fig2.csv  Jacot et al. (2018), Figure 2: trained networks of widths
#                   50 and 1000 (10 each, not centred) against the 10/50/90 %
#                   percentiles of the infinite ensemble's Gaussian.
#   lee-time.csv,   Lee et al. (2019): predictions of trained networks against
#   lee-width.csv   nt_predict() over time, and the relative weight change
#                   against the width.
#
# Run from the package root (after installing ntk), about 25 minutes on one
# core of a 2-core x86-64 machine with R's reference BLAS:
#   Rscript inst/scripts/dynamics.R inst/results
suppressPackageStartupMessages(library(ntk))
args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args)) args[1] else "inst/results"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
nt_threads(1)
say <- function(...) message(format(Sys.time(), "%H:%M:%S "), sprintf(...))

# Depth 4 in Jacot et al.'s count: 4 weight layers, 3 hidden ReLU layers;
# weights N(0, 1) / sqrt(fan_in), bias scale beta = 0.1 (b_var = beta^2).
jacot_net <- nt_fc(3, activation = "relu", w_var = 1, b_var = 0.01)
circle <- function(g) cbind(cos(g), sin(g))
gamma <- seq(-pi, pi, length.out = 61)          # gamma[31] = 0 is x0 = (1, 0)
grid <- circle(gamma)
train_gamma <- c(-2.4, -0.9, 0.6, 2.1)
train_x <- circle(train_gamma)
train_y <- c(-0.4, 0.3, 0.5, -0.2)
theta_train <- nt_kernel(jacot_net, train_x)
# gradient descent is stable for learning rates below 2 / (largest eigenvalue)
lr <- 1 / max(eigen(theta_train, symmetric = TRUE, only.values = TRUE)$values)

# ---- Figure 1 ----
fig1_time <- 20
fig1_steps <- ceiling(fig1_time / lr)
limit <- as.vector(nt_kernel(jacot_net, grid[31, , drop = FALSE], grid))
rows <- list(data.frame(width = Inf, net = 0L, time = NA, gamma = gamma, ntk = limit))
for (width in c(500, 10000)) {
  for (net in 1:10) {
    run <- nt_train(jacot_net, train_x, train_y, width = width, learning_rate = lr,
                    steps = fig1_steps, record = c(0, fig1_steps), x_test = grid,
                    ntk = TRUE, seed = net, progress = FALSE)
    at <- nrow(train_x) + 31L
    cols <- nrow(train_x) + seq_along(gamma)
    rows[[length(rows) + 1L]] <- data.frame(
      width = width, net = net, time = rep(c(0, fig1_steps * lr), each = length(gamma)),
      gamma = gamma, ntk = c(run$ntk_start[at, cols], run$ntk_end[at, cols]))
    say("fig1 width %d net %d", width, net)
  }
}
write.csv(do.call(rbind, rows), file.path(out_dir, "jacot-fig1.csv"), row.names = FALSE)

# ---- Figure 2 ----
fig2_time <- 200
fig2_steps <- ceiling(fig2_time / lr)
k <- nt_kernel(jacot_net, rbind(train_x, grid), what = c("ntk", "nngp"))
tr <- seq_len(nrow(train_x)); te <- nrow(train_x) + seq_along(gamma)
ens <- nt_predict(k$ntk[tr, tr], train_y, k$ntk[te, tr], t = fig2_steps * lr,
                  nngp = list(train = k$nngp[tr, tr], test = k$nngp[te, tr],
                              test_test = k$nngp[te, te]))
sd_limit <- sqrt(pmax(diag(ens$cov[, , 1]), 0))
rows <- list(data.frame(width = Inf, net = 0L, gamma = gamma,
                        p10 = ens$test[, 1] + qnorm(0.1) * sd_limit, p50 = ens$test[, 1],
                        p90 = ens$test[, 1] + qnorm(0.9) * sd_limit, f = NA))
for (width in c(50, 1000)) {
  for (net in 1:10) {
    run <- nt_train(jacot_net, train_x, train_y, width = width, learning_rate = lr,
                    steps = fig2_steps, record = c(0, fig2_steps), x_test = grid,
                    center = FALSE, seed = 100 + net, progress = FALSE)
    rows[[length(rows) + 1L]] <- data.frame(width = width, net = net, gamma = gamma,
                                            p10 = NA, p50 = NA, p90 = NA, f = run$test[, 2])
  }
  say("fig2 width %d", width)
}
write.csv(do.call(rbind, rows), file.path(out_dir, "jacot-fig2.csv"), row.names = FALSE)

# ---- Lee et al. (2019): linearised dynamics ----
# A small regression task from base R: mpg of mtcars from the standardised
# other columns, 20 cars for training and 12 for testing.
lee_net <- nt_fc(2, activation = "relu", w_var = 2, b_var = 0.1)
cars <- scale(as.matrix(mtcars))
set.seed(2019)
idx <- sample(nrow(cars), 20)
x_tr <- cars[idx, -1]; y_tr <- cars[idx, 1]
x_te <- cars[-idx, -1]; y_te <- cars[-idx, 1]
k_tr <- nt_kernel(lee_net, x_tr)
k_te <- nt_kernel(lee_net, x_te, x_tr)
lee_lr <- 1 / max(eigen(k_tr, symmetric = TRUE, only.values = TRUE)$values)
lee_steps <- 400
record <- unique(round(seq(0, lee_steps, length.out = 21)))
flow <- nt_predict(k_tr, y_tr, k_te, t = record * lee_lr)
time_rows <- list(data.frame(width = Inf, seed = 0L, step = rep(record, each = 20 + 12),
                             time = rep(record * lee_lr, each = 32),
                             set = rep(rep(c("train", "test"), c(20, 12)), length(record)),
                             point = rep(c(1:20, 1:12), length(record)),
                             f = as.vector(rbind(flow$train, flow$test))))
width_rows <- list()
for (width in 2^(6:11)) {
  for (seed in 1:5) {
    run <- nt_train(lee_net, x_tr, y_tr, width = width, learning_rate = lee_lr, steps = lee_steps,
                    record = record, x_test = x_te, seed = seed, progress = FALSE)
    time_rows[[length(time_rows) + 1L]] <- data.frame(
      width = width, seed = seed, step = rep(record, each = 32), time = rep(record * lee_lr, each = 32),
      set = rep(rep(c("train", "test"), c(20, 12)), length(record)),
      point = rep(c(1:20, 1:12), length(record)), f = as.vector(rbind(run$train, run$test)))
    width_rows[[length(width_rows) + 1L]] <- data.frame(
      width = width, seed = seed, weight_change = run$weight_change[length(record)],
      rmse_vs_flow_test = sqrt(mean((run$test[, length(record)] - flow$test[, length(record)])^2)),
      rmse_vs_flow_train = sqrt(mean((run$train[, length(record)] - flow$train[, length(record)])^2)),
      test_rmse = sqrt(mean((run$test[, length(record)] - y_te)^2)))
  }
  say("lee width %d", width)
}
# the time courses of the first network of each width (the summaries above
# cover all five), to 7 significant digits
time_rows <- do.call(rbind, time_rows)
time_rows <- time_rows[time_rows$seed <= 1, ]
time_rows$f <- signif(time_rows$f, 7)
write.csv(time_rows, file.path(out_dir, "lee-time.csv"), row.names = FALSE)
write.csv(do.call(rbind, width_rows), file.path(out_dir, "lee-width.csv"), row.names = FALSE)
writeLines(c(sprintf("learning rate (Jacot) %.6g, Figure 1 steps %d, Figure 2 steps %d",
                     lr, fig1_steps, fig2_steps),
             sprintf("learning rate (Lee) %.6g, steps %d", lee_lr, lee_steps),
             paste("R", getRversion(), "ntk", packageVersion("ntk"), format(Sys.time()))),
           file.path(out_dir, "dynamics-info.txt"))
