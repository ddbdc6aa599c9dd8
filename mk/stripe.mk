# stripe-mock, Stripe's official API mock (see /work/shared/design/ENGINES.md): the tests start
# it on free ports (tests/engines/stripe_mock.py), with a fixtures file derived from the bundled
# one that `go install` leaves in the Go module cache.
CG_CACHE_DIR ?= $(HOME)/.cache/commerce-graph
GO ?= go
STRIPE_MOCK_VERSION := v0.197.0
STRIPE_MOCK_BIN := $(CG_CACHE_DIR)/bin/stripe-mock

.PHONY: engines-stripe

## engines-stripe: install stripe-mock $(STRIPE_MOCK_VERSION) into $(CG_CACHE_DIR)/bin (once)
engines-stripe: $(STRIPE_MOCK_BIN)

# `go install` also leaves the module's source (and its bundled fixtures) in the module cache;
# if that cache is cleaned later, the tests fetch it again with `go mod download`.
$(STRIPE_MOCK_BIN):
	@command -v $(GO) >/dev/null || { \
	  echo "engines-stripe: stripe-mock needs Go (https://go.dev/dl/)" >&2; exit 1; }
	GOBIN=$(CG_CACHE_DIR)/bin $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)
	test -x $@
