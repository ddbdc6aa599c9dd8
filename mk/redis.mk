# Redis from Debian's packages: the tests start it on a free port (tests/engines/redis_server.py).
.PHONY: engines-redis
engines-redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server; fi; }
