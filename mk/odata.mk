# SAP's Cloud Application Programming Model (CAP) serving the ERP stand-in as OData v4
# (see /work/shared/design/ENGINES.md, docs/erp.md). Included by the main Makefile after
# mk/engines.mk; the default below only applies when this file is used on its own.
#
# node_modules lives in the cache, keyed by the lock file's hash, so `npm ci` (which compiles
# better-sqlite3 when no prebuilt binary matches, ~2 minutes) runs once per lock file, never
# in the source tree. tests/engines/odata_service.py finds it by the same hash.
CG_CACHE_DIR ?= $(HOME)/.cache/commerce-graph
NPM ?= npm
ODATA_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
ERP_SERVICE_SRC := $(abspath $(ODATA_MK_DIR)../tests/engines/erp_service)
ERP_SERVICE_LOCK := $(ERP_SERVICE_SRC)/package-lock.json
ERP_SERVICE_HASH = $(shell sha256sum $(ERP_SERVICE_LOCK) | cut -c1-12)
ERP_SERVICE_HOME = $(CG_CACHE_DIR)/engines/erp-service/$(ERP_SERVICE_HASH)

.PHONY: engines-odata

## engines-odata: npm ci the CAP project of the ERP stand-in into the cache (once per lock file)
engines-odata:
	@if [ -f $(ERP_SERVICE_HOME)/.stamp ]; then exit 0; fi; \
	if ! command -v node >/dev/null || ! command -v $(NPM) >/dev/null; then \
	  echo "engines-odata: Node.js 20+ and npm are needed for the ERP stand-in (tests/test_erp.py)" >&2; \
	  exit 1; \
	fi; \
	set -e; \
	rm -rf $(ERP_SERVICE_HOME); mkdir -p $(ERP_SERVICE_HOME); \
	cp $(ERP_SERVICE_SRC)/package.json $(ERP_SERVICE_LOCK) $(ERP_SERVICE_HOME)/; \
	echo "engines-odata: npm ci @sap/cds + @cap-js/sqlite into $(ERP_SERVICE_HOME)"; \
	cd $(ERP_SERVICE_HOME) && $(NPM) ci --no-audit --no-fund --loglevel=error; \
	test -x $(ERP_SERVICE_HOME)/node_modules/.bin/cds-serve; \
	touch $(ERP_SERVICE_HOME)/.stamp
