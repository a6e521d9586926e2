# make demo: install dependencies and the package, run the main job.
# make test: install dependencies, build the tarball, R CMD check --as-cran it
#            (which runs the testthat suite), fail on any ERROR or WARNING; then
#            the whole suite under ASAN + UBSAN and a subset under valgrind.
PKG := ntk
VERSION := $(shell sed -n 's/^Version: //p' DESCRIPTION)
TARBALL := $(PKG)_$(VERSION).tar.gz
# Offline-safe check settings: no CRAN incoming look-ups, no time server.
CHECK_ENV := _R_CHECK_CRAN_INCOMING_REMOTE_=false _R_CHECK_SYSTEM_CLOCK_=false
# A fixed time zone: some Suggests (caret's dependencies) ask timedatectl otherwise.
export TZ ?= UTC

.PHONY: deps install demo test check sanitize valgrind document clean

deps:
	bash tools/install-deps.sh

document: deps
	Rscript -e 'roxygen2::roxygenise()'

install: deps
	R CMD INSTALL .

demo: install
	Rscript inst/scripts/main.R uci-comparison.png

test: check sanitize valgrind

check: deps
	rm -f $(TARBALL)
	R CMD build .
	$(CHECK_ENV) R CMD check --as-cran --no-manual $(TARBALL); status=$$?; \
	  bash tools/check-summary.sh $(PKG).Rcheck $$status

sanitize: deps
	bash tools/sanitize.sh

valgrind: deps
	bash tools/valgrind.sh

clean:
	rm -rf $(PKG).Rcheck $(PKG)_*.tar.gz src/*.o src/*.so uci-comparison.png
