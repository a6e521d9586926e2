# Sequences: n x L x C arrays. They run as images of height 1 (n x 1 x L x C),
# with every convolution and pooling window and stride of the network
# turned into 1 x q: the kernels, finite networks and fits of a 1-d network
# are then those of the 2-d engine on one row, exactly.

is_sequence_input <- function(x) is.array(x) && length(dim(x)) == 3L && !is.data.frame(x)

# The network for the inputs x: sequences get the 1-d network; other inputs
# the network as given.
network_for <- function(net, x) if (is_sequence_input(x)) as_sequence_net(net) else net

as_sequence_net <- function(net) {
  if (isTRUE(attr(net, "ntk_sequence"))) return(net)
  one_row <- function(size, arg, layer) {
    if (length(size) == 3L || size[1] != size[2])
      stop(sprintf("`net` layer %s has %s %s, but sequences (n x L x C arrays) take one size",
                   format(layer), arg, paste(size, collapse = " x ")), call. = FALSE)
    c(1L, size[2])
  }
  walk <- function(l) {
    if (inherits(l, "nt_conv")) {
      l$filter <- one_row(l$filter, "filter", l)
      l$stride <- one_row(l$stride, "stride", l)
      return(l)
    }
    if (inherits(l, "nt_pool")) {
      l$window <- one_row(l$window, "window", l)
      l$stride <- one_row(l$stride, "stride", l)
      return(l)
    }
    if (!is.list(l)) return(l)
    out <- lapply(l, walk)
    attributes(out) <- attributes(l)
    out
  }
  out <- walk(net)
  attr(out, "ntk_sequence") <- TRUE
  out
}
