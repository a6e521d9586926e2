# Package hooks: thread defaults and the op registry when ntk loads; the
# tidymodels and mlr3 models registered with those packages (suggested, not
# imported) when they are loaded, before or after ntk.

.onLoad <- function(libname, pkgname) {
  .ntk_state$threads <- tryCatch(default_threads(), error = function(e) 1L)
  load_op_layout()
  make_mlr3_learners()
  when_loaded("parsnip", register_parsnip_models)
  when_loaded("mlr3", register_mlr3_learners)
}

when_loaded <- function(pkg, register) {
  # a failure here must not stop ntk or the other package from loading
  safely <- function(...) tryCatch(register(), error = function(e)
    warning(sprintf("ntk could not register its models with %s: %s", pkg, conditionMessage(e)),
            call. = FALSE))
  if (isNamespaceLoaded(pkg)) safely()
  setHook(packageEvent(pkg, "onLoad"), safely)
}
