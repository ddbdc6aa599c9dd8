# The AWS Lambda deployment package of the AppSync Direct Lambda resolver
# (appsync/lambda_handler.py, handler `appsync.lambda_handler.handler`, runtime python3.11) and
# its bench (docs/performance.md). Included by the main Makefile after the others; the
# defaults below only apply when this file is used on its own.
#
# The dependencies' wheels (manylinux2014, CPython 3.11) are downloaded once into
# $(CG_CACHE_DIR)/lambda/wheels; a second build only asks the index, then installs from there.
CG_CACHE_DIR ?= $(HOME)/.cache/commerce-graph
VENV ?= .venv
BIN ?= $(VENV)/bin
LAMBDA_ARCH ?= x86_64
LAMBDA_ZIP ?= dist/lambda/commerce-graph-lambda.zip

.PHONY: lambda-package bench-lambda

## lambda-package: build $(LAMBDA_ZIP), deterministic (LAMBDA_ARCH=x86_64 or arm64)
lambda-package: $(VENV)/.run-deps
	CG_CACHE_DIR=$(CG_CACHE_DIR) $(BIN)/python -m appsync.deploy.package \
	  --arch $(LAMBDA_ARCH) --out $(LAMBDA_ZIP)

## bench-lambda: cold import of a fresh package (this machine's arch), warm overhead (~3 min)
bench-lambda: $(VENV)/.dev-deps engines-ddb
	CG_CACHE_DIR=$(CG_CACHE_DIR) $(BIN)/python -m bench.lambda_cold
