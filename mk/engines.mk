# Real engines for tests (see /work/shared/design/ENGINES.md). Included by the main Makefile.
CG_CACHE_DIR ?= $(HOME)/.cache/commerce-graph
MVN ?= mvn
ENGINES_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
DDB_POM := $(abspath $(ENGINES_MK_DIR)../tools/engines/ddb/pom.xml)
DDB_LOCAL_LIB := $(CG_CACHE_DIR)/engines/ddb/lib
DDB_LOCAL_STAMP := $(CG_CACHE_DIR)/engines/ddb/.stamp
# Pinned: Maven 3.8's default dependency plugin is old, and pinning keeps the fetch reproducible.
MVN_DEP_PLUGIN := org.apache.maven.plugins:maven-dependency-plugin:3.8.1

.PHONY: engines-ddb
engines-ddb: $(DDB_LOCAL_STAMP)

# stripVersion gives the .so sqlite4java's conventional name (libsqlite4java-linux-amd64.so). Note
# DynamoDB Local 3.3.1 actually loads its own copy bundled in DynamoDBLocal.jar (extracted to /tmp).
$(DDB_LOCAL_STAMP): $(DDB_POM)
	rm -rf $(DDB_LOCAL_LIB)
	$(MVN) -q -B -f $(DDB_POM) $(MVN_DEP_PLUGIN):copy-dependencies \
	  -DincludeScope=runtime -Dmdep.stripVersion=true -DoutputDirectory=$(DDB_LOCAL_LIB)
	test -f $(DDB_LOCAL_LIB)/libsqlite4java-linux-amd64.so
	test -f $(DDB_LOCAL_LIB)/DynamoDBLocal.jar
	touch $@
