# plainsock — the commands a user needs. `make help` lists them.
CARGO ?= cargo

.PHONY: help run test bench bench-quick e2e doc

help:
	@echo "make run          build (release) and run 'plainsock serve' on its defaults"
	@echo "make test         unit + integration tests, clippy, rustfmt check"
	@echo "make e2e          end-to-end tests against third-party peers (headless Chromium)"
	@echo "make bench        benchmarks against a raw-socket baseline (up to 5 minutes)"
	@echo "make bench-quick  a 30-second smoke run of the benchmarks"
	@echo "make doc          build the API documentation (target/doc/plainsock)"

run:
	$(CARGO) build --release
	./target/release/plainsock serve

test:
	$(CARGO) test --all-targets
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) fmt --check

bench:
	$(CARGO) build --release --bin plainsock --example bench
	ulimit -n 20000 2>/dev/null || ulimit -n $$(ulimit -Hn); ./target/release/examples/bench

bench-quick:
	$(CARGO) build --release --bin plainsock --example bench
	ulimit -n 20000 2>/dev/null || ulimit -n $$(ulimit -Hn); ./target/release/examples/bench --quick

e2e:
	@echo "make e2e: the end-to-end browser tests arrive with their issue (#4); nothing to run yet" >&2; exit 1

doc:
	$(CARGO) doc --no-deps
	@echo "open target/doc/plainsock/index.html"
