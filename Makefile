# plainsock — the commands a user needs. `make help` lists them.
CARGO ?= cargo

.PHONY: help run test bench bench-quick e2e doc

help:
	@echo "make run          build (release) and run 'plainsock serve' on its defaults"
	@echo "make test         unit + integration tests, clippy, rustfmt check"
	@echo "make e2e          end-to-end tests against third-party peers (Chromium, websockets, socket.io-client, nginx)"
	@echo "make bench        benchmarks against a raw-socket baseline (about 6 minutes)"
	@echo "make bench-quick  a 70-second smoke run of the benchmarks"
	@echo "make doc          build the API documentation (target/doc/plainsock)"

run:
	$(CARGO) build --release
	./target/release/plainsock serve

# The cluster tests (tests/redis_*.rs, tests/cluster_*.rs) start their own Debian redis-server.
# The soak (210 members, 105,000 lines) is a load test: like make bench it runs on the release
# build, where its 60 s bound means something.
test:
	@command -v redis-server >/dev/null || { echo "make test needs Debian's redis-server (the cluster tests start their own): apt-get install -y redis-server" >&2; exit 1; }
	$(CARGO) test --all-targets -- --skip members_of_every_transport_105000_lines_with_churn
	$(CARGO) test --release --test soak
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) fmt --check

bench:
	$(CARGO) build --release --bin plainsock --example bench
	ulimit -n 20000 2>/dev/null || ulimit -n $$(ulimit -Hn); ./target/release/examples/bench $(BENCH_ARGS)

bench-quick:
	$(CARGO) build --release --bin plainsock --example bench
	ulimit -n 20000 2>/dev/null || ulimit -n $$(ulimit -Hn); ./target/release/examples/bench --quick

# Real peers: Debian's headless Chromium (the chat page, CDP over our own WebSocket client),
# Python's websockets (against the echo example), npm's socket.io-client (against the
# Socket.IO echo example; `npm ci` in tests/node installs it), and nginx terminating TLS in front
# of the chat server (examples/deploy/nginx.conf). `make test` skips these tests.
e2e:
	@test -x /usr/bin/chromium || { echo "make e2e needs Debian's Chromium at /usr/bin/chromium: apt-get install -y chromium" >&2; exit 1; }
	@/usr/bin/python3 -c "import websockets" 2>/dev/null || { echo "make e2e needs Python's websockets for /usr/bin/python3: apt-get install -y python3-websockets" >&2; exit 1; }
	@test -x /usr/sbin/nginx || { echo "make e2e needs Debian's nginx at /usr/sbin/nginx: apt-get install -y nginx" >&2; exit 1; }
	@command -v openssl >/dev/null || { echo "make e2e needs openssl: apt-get install -y openssl" >&2; exit 1; }
	@test -d tests/node/node_modules/socket.io-client || { echo "make e2e needs socket.io-client: cd tests/node && npm ci" >&2; exit 1; }
	$(CARGO) build --release --examples
	$(CARGO) test --release --test e2e_browser --test e2e_interop --test e2e_proxy --test e2e_socketio -- --include-ignored --test-threads=1
	@echo "screenshots of the chat page: target/e2e/chat.png, target/e2e/chat-polling.png"

doc:
	$(CARGO) doc --no-deps
	@echo "open target/doc/plainsock/index.html"
