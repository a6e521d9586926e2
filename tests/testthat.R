library(testthat)
library(ntk)

test_check("ntk")
