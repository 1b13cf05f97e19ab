# The test target is what CI runs (.ci/run) and what README.md tells you to
# run. It installs the servers the integration tests need when they are
# missing, then runs vet and the whole suite with the race detector, with
# integration tests required (they fail instead of skipping when a server's
# binary is missing).

SHELL := /bin/bash
GO ?= go
export SHEPHERD_INTEGRATION := required

# Debian packages the integration tests start or drive.
APT_PACKAGES := prometheus chromium postgresql haproxy

.PHONY: test deps vet unit bench temporal

test: deps vet
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) temporal

# temporal runs the Temporal module's tests (its own go.mod, so the core never
# depends on Temporal). A cold build compiles the Temporal server in process
# (about 1,000 s of CPU with -race; see docs/benchmarks.md). go test's own vet
# checks run on this module; a separate go vet is left out because it would
# compile the server's ~1,300 packages a second time without -race.
temporal:
	cd temporal && $(GO) test -race -count=1 -timeout 30m ./...

deps:
	@missing=""; \
	command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ] || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

vet:
	$(GO) vet ./...

# unit runs the suite without requiring the integration servers: tests that
# need a missing binary skip with a message.
unit:
	SHEPHERD_INTEGRATION= $(GO) test -race -count=1 ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...
