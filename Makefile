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

.PHONY: test deps vet unit bench temporal tidy

test: deps vet
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) temporal

# temporal runs the tests of the Temporal adapter (temporal/, a module of its
# own, so that the core never depends on Temporal) and of its server tests
# (temporal/internal/servertest, another module, so that the adapter's users
# do not inherit the Temporal server), through the repository's go.work. The
# server tests compile the Temporal server in process: a cold build costs
# about 1,000 s of CPU with -race (see docs/benchmarks.md); warm, both modules'
# tests take a few minutes. go vet runs on the adapter module; the server
# tests' module has go test's own vet checks, as a separate go vet would
# compile the server's ~1,300 packages a second time without -race.
TEMPORAL := github.com/shepherd-go/shepherd/temporal
temporal:
	$(GO) vet $(TEMPORAL) $(TEMPORAL)/internal/testfleet
	$(GO) test -race -count=1 -timeout 30m $(TEMPORAL)/...

# tidy tidies the three modules. The Temporal modules require the core (and
# the adapter) at the version of the next release, which no public proxy has
# yet: go mod tidy, which ignores go.work, resolves them from a file-system
# proxy of the working tree, with a module cache of its own (fed from the
# machine's) so that the snapshot does not stay in the machine's cache. Their
# checksums are left out of the go.sum files: a snapshot's are not the
# release's, and the workspace needs none.
tidy:
	$(GO) mod tidy
	set -e; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(GO) run $(TEMPORAL)/internal/servertest/modproxy . $$tmp/proxy; \
	for m in temporal temporal/internal/servertest; do \
		(cd $$m && GOWORK=off GOMODCACHE=$$tmp/mod GOFLAGS=-modcacherw \
			GOPROXY=file://$$tmp/proxy,file://$$($(GO) env GOMODCACHE)/cache/download,$$($(GO) env GOPROXY) \
			GONOSUMDB=github.com/shepherd-go/shepherd $(GO) mod tidy && \
		sed -i '/^github.com\/shepherd-go\/shepherd[ /]/d' go.sum); \
	done

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
