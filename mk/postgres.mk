# PostgreSQL from Debian's packages: the tests run initdb and start it on a free port as the
# unprivileged `postgres` user (tests/engines/postgres_server.py). The package's own cluster
# is not used; its binaries live in /usr/lib/postgresql/<major>/bin, off PATH.
.PHONY: engines-postgres
engines-postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql; fi; }
