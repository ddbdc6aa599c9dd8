# The AWS Amplify JS v6 client (aws-amplify + ws), unchanged, that tests/test_realtime_amplify.py
# runs under Node against /graphql/realtime (issue 6; docs/realtime.md). Included by the main
# Makefile; the default below only applies when this file is used on its own.
#
# node_modules lives in the cache, keyed by the lock file's hash, so `npm ci` runs once per
# lock file, never in the source tree. The test finds it by the same hash
# ($CG_CACHE_DIR/engines/amplify-client/<hash>, or $CG_AMPLIFY_CLIENT_HOME).
CG_CACHE_DIR ?= $(HOME)/.cache/commerce-graph
NPM ?= npm
AMPLIFY_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
AMPLIFY_CLIENT_SRC := $(abspath $(AMPLIFY_MK_DIR)../tests/clients/amplify)
AMPLIFY_CLIENT_LOCK := $(AMPLIFY_CLIENT_SRC)/package-lock.json
AMPLIFY_CLIENT_HASH = $(shell sha256sum $(AMPLIFY_CLIENT_LOCK) | cut -c1-12)
AMPLIFY_CLIENT_HOME = $(CG_CACHE_DIR)/engines/amplify-client/$(AMPLIFY_CLIENT_HASH)

.PHONY: engines-amplify

## engines-amplify: npm ci aws-amplify v6 + ws for the realtime client test (once per lock file)
engines-amplify:
	@if [ -f $(AMPLIFY_CLIENT_HOME)/.stamp ]; then exit 0; fi; \
	if ! command -v node >/dev/null || ! command -v $(NPM) >/dev/null; then \
	  echo "engines-amplify: Node.js 20+ and npm are needed for tests/test_realtime_amplify.py" >&2; \
	  exit 1; \
	fi; \
	set -e; \
	rm -rf $(AMPLIFY_CLIENT_HOME); mkdir -p $(AMPLIFY_CLIENT_HOME); \
	cp $(AMPLIFY_CLIENT_SRC)/package.json $(AMPLIFY_CLIENT_LOCK) $(AMPLIFY_CLIENT_HOME)/; \
	echo "engines-amplify: npm ci aws-amplify + ws into $(AMPLIFY_CLIENT_HOME)"; \
	cd $(AMPLIFY_CLIENT_HOME) && $(NPM) ci --no-audit --no-fund --loglevel=error; \
	test -f $(AMPLIFY_CLIENT_HOME)/node_modules/aws-amplify/package.json; \
	test -f $(AMPLIFY_CLIENT_HOME)/node_modules/ws/package.json; \
	touch $(AMPLIFY_CLIENT_HOME)/.stamp
