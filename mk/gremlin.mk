# Apache TinkerPop Gremlin Server, the local Neptune (see /work/shared/design/ENGINES.md).
# Included by the main Makefile after mk/engines.mk (which defines CG_CACHE_DIR, MVN and
# MVN_DEP_PLUGIN); the defaults below only apply when this file is used on its own.
CG_CACHE_DIR ?= $(HOME)/.cache/commerce-graph
MVN ?= mvn
JAVAC ?= javac
JAVA ?= java
MVN_DEP_PLUGIN ?= org.apache.maven.plugins:maven-dependency-plugin:3.8.1
GREMLIN_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
GREMLIN_TOOLS := $(abspath $(GREMLIN_MK_DIR)../tools/engines/gremlin)
GREMLIN_POM := $(GREMLIN_TOOLS)/pom.xml
GREMLIN_MANAGER_SRC := $(GREMLIN_TOOLS)/conf/NeptuneLikeGraphManager.java
GREMLIN_HOME := $(CG_CACHE_DIR)/engines/gremlin
GREMLIN_LIB := $(GREMLIN_HOME)/lib
GREMLIN_CLASSES := $(GREMLIN_HOME)/classes
GREMLIN_STAMP := $(GREMLIN_HOME)/.stamp
GREMLIN_PORT ?= 8182

.PHONY: engines-gremlin gremlin-server

## engines-gremlin: fetch Gremlin Server 3.7.3 jars and compile its tiny graph manager (cached)
engines-gremlin: $(GREMLIN_STAMP)

# The graph manager binds `g` without Groovy; its class file lives in the cache, never in git.
# Without a JDK or Maven this says so and succeeds (no stamp, so it tries again next time):
# `make run` still starts, and recommendations answer `Neptune:Unavailable`.
$(GREMLIN_STAMP): $(GREMLIN_POM) $(GREMLIN_MANAGER_SRC)
	@if ! command -v $(JAVA) >/dev/null || ! command -v $(JAVAC) >/dev/null \
	    || ! command -v $(MVN) >/dev/null; then \
	  echo "engines-gremlin: skipped, Gremlin Server needs a JDK 11+ (java, javac) and Maven;" \
	    "without it recommendations answer Neptune:Unavailable" >&2; \
	  exit 0; \
	fi; \
	set -e; \
	rm -rf $(GREMLIN_LIB) $(GREMLIN_CLASSES); \
	echo "engines-gremlin: fetching Gremlin Server 3.7.3 into $(GREMLIN_HOME)"; \
	$(MVN) -q -B -f $(GREMLIN_POM) $(MVN_DEP_PLUGIN):copy-dependencies \
	  -DincludeScope=runtime -DoutputDirectory=$(GREMLIN_LIB); \
	test -f $(GREMLIN_LIB)/gremlin-server-3.7.3.jar; \
	test -f $(GREMLIN_LIB)/tinkergraph-gremlin-3.7.3.jar; \
	$(JAVAC) -nowarn --release 11 -d $(GREMLIN_CLASSES) -cp '$(GREMLIN_LIB)/*' \
	  $(GREMLIN_MANAGER_SRC); \
	touch $@

## gremlin-server: run Gremlin Server in the foreground on 127.0.0.1:$(GREMLIN_PORT) (Ctrl-C stops)
gremlin-server: $(GREMLIN_STAMP)
	cd $(GREMLIN_TOOLS) && sed 's/^port: .*/port: $(GREMLIN_PORT)/' conf/gremlin-server.yaml \
	  > $(GREMLIN_HOME)/gremlin-server.yaml && \
	  $(JAVA) -Xmx512m -cp '$(GREMLIN_CLASSES):$(GREMLIN_LIB)/*' \
	  org.apache.tinkerpop.gremlin.server.GremlinServer $(GREMLIN_HOME)/gremlin-server.yaml
