# Fingerprints for the tile store: md5 digests that come out the same in
# every session, on every machine, for the same network, inputs or tile, so
# that a store can tell its own tiles from anything else in it.

# The md5 digest of the bytes that `write` writes to a binary connection
# (tools::md5sum() reads files only, so the bytes pass through a temporary
# file).
md5_of <- function(write) {
  path <- tempfile("ntk-md5-")
  on.exit(unlink(path))
  con <- file(path, "wb")
  tryCatch(write(con), finally = close(con))
  unname(tools::md5sum(path))
}

# Doubles in little-endian order (the same bytes on every machine), a chunk at
# a time so that a large input is never copied whole.
write_doubles <- function(con, values) {
  n <- length(values)
  step <- 2^20
  for (k in seq_len(ceiling(n / step))) {
    at <- ((k - 1) * step + 1):min(n, k * step)
    writeBin(as.double(values[at]), con, endian = "little")
  }
}

# Numeric inputs by their shape and values only: names do not change a
# kernel's values. NULL (no `z`) is NA.
hash_values <- function(a) {
  if (is.null(a)) return(NA_character_)
  md5_of(function(con) {
    writeBin(as.integer(c(length(dim(a)), dim(a), length(a))), con, endian = "little")
    write_doubles(con, a)
  })
}

# Any R object, through canonical(); the first 14 bytes of a version-2
# serialization (the header, which names the R version that wrote it) are
# left out so that nodes running other R versions agree.
hash_object <- function(obj) {
  bytes <- serialize(canonical(obj, new.env(parent = emptyenv())), NULL, version = 2L)
  md5_of(function(con) writeBin(bytes[-seq_len(14L)], con))
}

# A stand-in for `obj` that serializes to the same bytes in every session:
# functions become their formals, their body without source references and
# the values of the free variables they see (not the addresses of their
# environments, which differ between sessions); environments met as values
# become their sorted bindings. Layer labels are dropped: they are cosmetic
# (nt_activation() derives one from the call's text). `state` remembers the
# functions and environments already met, so that cycles end.
canonical <- function(obj, state, depth = 0L) {
  if (depth > 200L)
    stop("the network is nested too deeply to fingerprint it for the tile store", call. = FALSE)
  depth <- depth + 1L
  if (is.primitive(obj)) return(list("<primitive>", deparse(obj)))
  if (is.function(obj)) return(canonical_closure(obj, state, depth))
  if (is.environment(obj)) return(canonical_env(obj, state, depth))
  if (is.language(obj)) return(strip_source(obj))
  if (is.list(obj)) {
    items <- as.list(unclass(obj))
    if (inherits(obj, "nt_layer")) items <- items[names(items) != "label"]
    return(list("<list>", names(items), lapply(unname(items), canonical, state, depth),
                canonical_attributes(obj, state, depth)))
  }
  if (is.atomic(obj) && !is.null(attributes(obj))) {
    bare <- obj
    attributes(bare) <- NULL
    return(list("<atomic>", bare, canonical_attributes(obj, state, depth)))
  }
  obj
}

# Attributes sorted by name (their order depends on how the object was
# built), without source references; a list's names are kept with its items.
canonical_attributes <- function(obj, state, depth) {
  at <- attributes(obj)
  at <- at[!names(at) %in% c("srcref", "srcfile", "wholeSrcref", if (is.list(obj)) "names")]
  if (!length(at)) return(NULL)
  at <- at[sort(names(at), method = "radix")]
  list(names(at), lapply(unname(at), canonical, state, depth))
}

canonical_closure <- function(fun, state, depth) {
  for (k in seq_along(state$funs))
    if (identical(state$funs[[k]], fun)) return(list("<same function>", k))
  state$funs[[length(state$funs) + 1L]] <- fun
  fmls <- formals(fun)
  defaults <- lapply(seq_along(fmls), function(k) {
    if (is.name(fmls[[k]]) && !nzchar(as.character(fmls[[k]]))) "<no default>"
    else canonical(fmls[[k]], state, depth)
  })
  code <- strip_source(body(fun))
  free <- setdiff(unique(c(all.names(code), unlist(lapply(defaults, function(d)
    if (is.language(d)) all.names(d))))), names(fmls))
  free <- sort(free, method = "radix")
  list("<closure>", names(fmls), defaults, code,
       canonical_attributes(fun, state, depth),
       lapply(free, function(name) canonical_lookup(name, environment(fun), state, depth)))
}

# What a function sees under `name`: the value when it lives in the global
# or a local environment (a closure's own variables), the package when it
# comes from a namespace or the search path.
canonical_lookup <- function(name, env, state, depth) {
  while (!identical(env, emptyenv())) {
    if (exists(name, envir = env, inherits = FALSE)) {
      if (identical(env, baseenv()) || identical(env, .BaseNamespaceEnv))
        return(list(name, "<base>"))
      if (isNamespace(env))
        return(list(name, "<namespace>", getNamespaceName(env), getNamespaceVersion(env)))
      label <- attr(env, "name")
      if (!identical(env, globalenv()) && is.character(label))
        return(list(name, "<attached>", label))
      value <- tryCatch(canonical(binding_value(name, env), state, depth), error = function(e)
        list("<unevaluable>", conditionMessage(e)))
      return(list(name, value))
    }
    env <- parent.env(env)
  }
  list(name, "<unbound>")
}

# A binding's value (forcing a promise); `...` as the list of its values.
binding_value <- function(name, env) {
  if (identical(name, "...")) return(eval(quote(list(...)), env))
  get(name, envir = env, inherits = FALSE)
}

canonical_env <- function(env, state, depth) {
  if (identical(env, globalenv())) return("<global>")
  if (identical(env, emptyenv())) return("<empty>")
  if (isNamespace(env) || identical(env, baseenv()))
    return(list("<namespace>", getNamespaceName(env)))
  if (is.character(attr(env, "name"))) return(list("<attached>", attr(env, "name")))
  for (k in seq_along(state$envs))
    if (identical(state$envs[[k]], env)) return(list("<same environment>", k))
  state$envs[[length(state$envs) + 1L]] <- env
  if (length(state$envs) > 10000L)
    stop("the network refers to too many environments to fingerprint it for the tile store",
         call. = FALSE)
  names <- sort(ls(env, all.names = TRUE), method = "radix")
  list("<environment>", names, lapply(names, function(name)
    tryCatch(canonical(binding_value(name, env), state, depth), error = function(e)
      list("<unevaluable>", conditionMessage(e)))))
}

# A call without source references: utils::removeSource() keeps the line
# numbers of nested `function` expressions, which differ between a sourced
# file and the console.
strip_source <- function(expr) {
  if (!is.language(expr) || is.name(expr)) return(expr)
  for (a in c("srcref", "srcfile", "wholeSrcref")) attr(expr, a) <- NULL
  if (is.call(expr) && identical(expr[[1L]], as.name("function")) && length(expr) >= 4L)
    expr[4L] <- list(NULL)
  # expr[[k]] is never bound to a variable: it may be the empty symbol of
  # an omitted argument (x[, 1]), which cannot be passed around
  for (k in seq_along(expr)) {
    if (is.name(expr[[k]])) next
    if (is.language(expr[[k]])) expr[k] <- list(strip_source(expr[[k]]))
    else if (is.pairlist(expr[[k]]) && length(expr[[k]])) expr[k] <- list(strip_pairlist(expr[[k]]))
  }
  expr
}

# The formals inside a nested `function` expression (defaults may be calls).
strip_pairlist <- function(pl) {
  for (k in seq_along(pl))
    if (!is.name(pl[[k]]) && is.language(pl[[k]])) pl[k] <- list(strip_source(pl[[k]]))
  pl
}
