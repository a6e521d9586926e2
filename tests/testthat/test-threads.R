# Thread settings are cut to the cores available where they are set, bad
# settings never stop the package from loading, and forked children run
# single-threaded (and give the same kernels).
test_that("requests above the cores are cut to them, with one warning", {
  cores <- ntk:::available_cores()
  expect_gte(cores, 1L)
  old <- nt_threads()
  on.exit(nt_threads(old))
  state <- ntk:::.ntk_state
  state$warned_threads <- FALSE
  expect_warning(nt_threads(5000), "nt_threads\\(n\\) asks for 5000 threads; ntk uses the")
  expect_equal(nt_threads(), cores)
  expect_silent(nt_threads(5000))                          # once per session
  expect_equal(ntk:::clamp_threads(1L), 1L)
})

test_that("bad or huge settings give the default, never a load error", {
  state <- ntk:::.ntk_state
  state$warned_threads <- TRUE
  cores <- ntk:::available_cores()
  withr_local <- function(opt, env) {
    old_opt <- options(ntk.threads = opt)
    old_env <- Sys.getenv(c("NTK_NUM_THREADS", "_R_CHECK_LIMIT_CORES_"), unset = NA)
    Sys.setenv(NTK_NUM_THREADS = env, `_R_CHECK_LIMIT_CORES_` = "false")
    on.exit({
      options(old_opt)
      for (v in names(old_env))
        if (is.na(old_env[[v]])) Sys.unsetenv(v) else do.call(Sys.setenv, as.list(old_env[v]))
    })
    ntk:::default_threads()
  }
  expect_message(n <- withr_local(function() 2, ""), "ignoring option ntk.threads")
  expect_true(n >= 1L && n <= cores)
  expect_equal(withr_local(NULL, "1e3"), cores)
  expect_equal(withr_local(NULL, "99999"), cores)
  expect_equal(withr_local(1, "99999"), 1L)
  expect_message(withr_local(NULL, "two"), "ignoring NTK_NUM_THREADS")
})

test_that("a forked child computes on one thread and gets the same kernel", {
  skip_on_os("windows")   # no fork there
  set.seed(1)
  x <- matrix(rnorm(200 * 5), 200)
  k <- nt_kernel(nt_fc(2), x, threads = 2)
  child <- parallel::mclapply(1:2, function(i) nt_kernel(nt_fc(2), x, threads = 2)@.Data,
                              mc.cores = 2)
  for (r in child) expect_equal(r, k@.Data, tolerance = 1e-14)
})
