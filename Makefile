# make demo: install dependencies and the package, run the main job.
# make test: install dependencies, build the tarball, R CMD check --as-cran it
#            (which runs the testthat suite), fail on any ERROR or WARNING.
PKG := ntk
VERSION := $(shell sed -n 's/^Version: //p' DESCRIPTION)
TARBALL := $(PKG)_$(VERSION).tar.gz
# Offline-safe check settings: no CRAN incoming look-ups, no time server.
CHECK_ENV := _R_CHECK_CRAN_INCOMING_REMOTE_=false _R_CHECK_SYSTEM_CLOCK_=false
# A fixed time zone: some Suggests (caret's dependencies) ask timedatectl otherwise.
export TZ ?= UTC

.PHONY: deps install demo test document clean

deps:
	bash tools/install-deps.sh

document: deps
	Rscript -e 'roxygen2::roxygenise()'

install: deps
	R CMD INSTALL .

demo: install
	Rscript inst/scripts/main.R

$(TARBALL): deps
	R CMD build .

test: $(TARBALL)
	$(CHECK_ENV) R CMD check --as-cran --no-manual $(TARBALL); status=$$?; \
	  bash tools/check-summary.sh $(PKG).Rcheck $$status

clean:
	rm -rf $(PKG).Rcheck $(PKG)_*.tar.gz src/*.o src/*.so
