# Flattened images as matrix rows (input_shape): kernlab kernel objects,
# caret, parsnip and mlr3 models on convolutional networks.

for (p in c("caret", "parsnip", "mlr3", "paradox", "R6")) skip_if_not_installed(p)

# 8 x 8 one-channel images: a bright 3 x 3 blob at a random place in the
# left half (class "left") or the right half ("right"), on noise.
blob_images <- function(n, seed) {
  set.seed(seed)
  side <- rep(c("left", "right"), length.out = n)
  a <- array(rnorm(n * 64, sd = 0.3), c(n, 8, 8, 1))
  for (i in seq_len(n)) {
    col <- if (side[i] == "left") sample(1:2, 1) else sample(5:6, 1)
    row <- sample(1:6, 1)
    a[i, row + 0:2, col + 0:2, 1] <- a[i, row + 0:2, col + 0:2, 1] + 1.5
  }
  x <- matrix(a, n)
  colnames(x) <- paste0("p", seq_len(64))
  list(array = a, x = x, y = factor(side))
}

test_that("ntkdot(input_shape =) reads rows as images in R's order", {
  d <- blob_images(12, 1)
  net <- nt_cnn(2, readout = "gap")
  kern <- ntkdot(net, input_shape = c(8, 8, 1))
  want <- nt_kernel(net, d$array)
  expect_equal(unname(kernlab::kernelMatrix(kern, d$x)@.Data), unname(want@.Data), tolerance = 0)
  expect_equal(kern(d$x[3, ], d$x[7, ]), want[3, 7], tolerance = 1e-14)
  seqs <- array(rnorm(5 * 6 * 2), c(5, 6, 2))
  seq_kern <- nngpdot(nt_serial(nt_conv(3), nt_relu(), nt_global_avg_pool(), nt_dense()), input_shape = c(6, 2))
  expect_equal(unname(kernlab::kernelMatrix(seq_kern, matrix(seqs, 5))@.Data),
               nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_global_avg_pool(), nt_dense()), seqs,
                         what = "nngp")@.Data, tolerance = 0, ignore_attr = TRUE)
  vols <- array(rnorm(4 * 3 * 4 * 2 * 2), c(4, 3, 4, 2, 2))
  vol_kern <- ntkdot(net, input_shape = c(3, 4, 2, 2))
  expect_equal(unname(kernlab::kernelMatrix(vol_kern, matrix(vols, 4))@.Data),
               unname(nt_kernel(net, vols)@.Data), tolerance = 0)
  expect_error(kernlab::kernelMatrix(kern, d$x[, 1:10]), "input_shape = c\\(8, 8, 1\\) needs 64")
  expect_error(ntkdot(net, input_shape = c(8, -8)), "`input_shape` must be")
})

test_that("an SVM on image rows learns where the blob is", {
  train <- blob_images(60, 2)
  test <- blob_images(60, 3)
  model <- kernlab::ksvm(train$x, train$y, kernel = ntkdot(nt_cnn(2, readout = "flatten"), input_shape = c(8, 8, 1)),
                         C = 10, scaled = FALSE)
  expect_gt(mean(kernlab::predict(model, test$x) == test$y), 0.9)
})

test_that("caret, parsnip and mlr3 tune convolutional kernels on image rows", {
  train <- blob_images(48, 4)
  test <- blob_images(40, 5)
  fit <- caret::train(train$x, train$y, method = nt_caret_svm(input_shape = c(8, 8, 1)), tuneLength = 2,
                      trControl = caret::trainControl(method = "cv", number = 3))
  expect_true(all(fit$results$fixed == 0))
  expect_setequal(unique(fit$results$depth), 1:2)
  expect_gt(mean(predict(fit, test$x) == test$y), 0.85)
  spec <- parsnip::set_engine(parsnip::set_mode(nt_krr(depth = 2, diag_reg = 0.01), "classification"), "ntk",
                              input_shape = c(8, 8, 1))
  pfit <- parsnip::fit_xy(spec, as.data.frame(train$x), train$y)
  expect_gt(mean(predict(pfit, as.data.frame(test$x))$.pred_class == test$y), 0.85)
  task <- mlr3::as_task_classif(data.frame(train$x, side = train$y), target = "side")
  learner <- mlr3::lrn("classif.ntk", input_shape = c(8, 8, 1), depth = 2, cost = 10)
  learner$train(task)
  pred <- learner$predict_newdata(data.frame(test$x, side = test$y))
  expect_gt(pred$score(mlr3::msr("classif.acc")), 0.85)
  expect_error(nt_svm_model(train$x, train$y, fixed = 1, input_shape = c(8, 8, 1)),
               "`fixed` must be 0 for convolutional models")
})
