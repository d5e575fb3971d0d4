# palyra-skills-operator. Node 24 comes from the `node` npm package: `npm ci` first.
SHELL := /bin/bash
NODE := node_modules/.bin/node
CLI := $(NODE) bin/palyra-skill.mjs
OUT := examples/out
EXAMPLES := echo-http fetch-anything

.PHONY: cli native chart-lint helm image dev demo-cluster help install check fuzz soak-short test test-integration lint typecheck examples demo bench clean e2e-kind control-plane registry cluster-up cluster-down

help:
	@echo "make dev        the operator on a local control plane with example Skills (Ctrl-C stops it all)"
	@echo "make install    install dependencies from the lock file (npm ci), build the inflate addon (cargo) and the CLI bundle"
	@echo "make demo       build the examples, verify and audit them, then apply examples/k8s to a local control plane it leaves running"
	@echo "make examples   build and sign the example skills with a throwaway key into $(OUT)/"
	@echo "make test       run the unit tests (npm test)"
	@echo "make test-integration  build the control plane if needed, run the integration tests against it"
	@echo "make cluster-up / cluster-down  a local kube-apiserver + etcd on 127.0.0.1 (prints the kubeconfig path)"
	@echo "make check      typecheck + lint + tests + a short soak of the scale benchmark"
	@echo "make bench      run the benchmarks"
	@echo "make fuzz       the property tests (archive, inflate differential) with 200x their CI run count (PALYRA_FUZZ_SCALE=N)"
	@echo "make chart-lint helm lint --strict and helm template of charts/ (helm built from its Go module, cached)"
	@echo "make image      build the container image (needs a Docker engine; says so and fails without one)"
	@echo "make e2e-kind   kind + the chart + the e2e scenarios (needs Docker and kind; says so and fails without them)"

node_modules/.bin/node: package-lock.json
	npm ci
	@touch $@

# The zlib-rs inflate addon (native/), built with cargo from native/Cargo.lock; see hack/native/build.sh.
native/palyra-native.node: native/Cargo.toml native/Cargo.lock native/build.rs $(wildcard native/src/*.rs) hack/native/build.sh
	@bash hack/native/build.sh

native: native/palyra-native.node

# The CLI bundle (dist/cli/, scripts/build-cli.ts): npm ci builds it; this rebuilds it after
# source edits (bin/palyra-skill.mjs runs the sources meanwhile, never a stale bundle).
cli: | node_modules/.bin/node
	@$(NODE) scripts/build-cli.ts --if-stale

install: node_modules/.bin/node native/palyra-native.node cli

$(OUT)/dev-signing.key: | node_modules/.bin/node
	@mkdir -p $(OUT)
	$(CLI) keygen --output $@

# Module and asset paths are given absolute so that they land as modules/<file> and assets/<file>.
$(OUT)/%.palyra-skill: examples/%/skill.toml examples/%/sbom.cdx.json examples/%/provenance.json $(OUT)/dev-signing.key | node_modules/.bin/node
	$(CLI) build --manifest examples/$*/skill.toml \
	  $(foreach m,$(wildcard examples/$*/modules/*.wasm),--module $(abspath $(m))) \
	  $(foreach a,$(wildcard examples/$*/assets/*),--asset $(abspath $(a))) \
	  --sbom examples/$*/sbom.cdx.json --provenance examples/$*/provenance.json \
	  --signing-key-file $(OUT)/dev-signing.key --output $@ --force

$(OUT)/trust-store.json: $(OUT)/dev-signing.key | node_modules/.bin/node
	rm -f $@
	$(CLI) trust add --trust-store $@ --publisher acme --key "$$(cat $(OUT)/dev-signing.key.pub)"

examples: $(foreach e,$(EXAMPLES),$(OUT)/$(e).palyra-skill) $(OUT)/trust-store.json
	@echo "built: $^"

# The quick start: build both examples, verify them against the generated trust store, audit them.
# fetch-anything asks for wildcard egress, so its audit exits 3 (quarantine) by design.
demo: examples
	$(CLI) verify $(OUT)/echo-http.palyra-skill --trust-store $(OUT)/trust-store.json
	$(CLI) audit $(OUT)/echo-http.palyra-skill --trust-store $(OUT)/trust-store.json
	$(CLI) verify $(OUT)/fetch-anything.palyra-skill --trust-store $(OUT)/trust-store.json
	$(CLI) audit $(OUT)/fetch-anything.palyra-skill --trust-store $(OUT)/trust-store.json; \
	  status=$$?; echo "audit exit code $$status (3 = quarantine required)"; test $$status -eq 3
	@$(MAKE) -s demo-cluster

# The resources on a real local control plane: CRDs installed, example Skills and policy applied.
demo-cluster: install control-plane
	@kubeconfig=$$($(NODE) hack/control-plane/cluster.ts up) && bin=$$(bash hack/control-plane/build.sh) && \
	  k() { "$$bin/kubectl" --kubeconfig "$$kubeconfig" "$$@"; } && \
	  k apply --server-side -f crds/ && \
	  k wait --for condition=Established --timeout=60s -f crds/ && \
	  k apply --server-side -f examples/k8s/ && \
	  k get palyra -A && \
	  echo "control plane left running: $$bin/kubectl --kubeconfig $$kubeconfig ...; stop it with make cluster-down"

# The main job: kube-apiserver + etcd on 127.0.0.1, CRDs, an HTTPS artifact server with its own
# CA, the operator, a policy and six example Skills; prints kubectl get skills -A as they settle.
dev: install control-plane registry
	$(NODE) hack/dev/dev.ts

typecheck: install
	$(NODE) node_modules/typescript/bin/tsc --noEmit -p tsconfig.json

lint: install
	node_modules/.bin/biome check .
	cargo fmt --check --manifest-path native/Cargo.toml
	CARGO_TARGET_DIR=.cache/native cargo clippy --release --locked --quiet --manifest-path native/Cargo.toml -- -D warnings

test: install
	npm test

# kube-apiserver, etcd and kubectl built from the pinned Go modules (cached under .cache/).
control-plane:
	@bash hack/control-plane/build.sh >/dev/null

# The OCI registry (CNCF distribution), oras and an htpasswd helper from the pinned Go modules
# (cached under .cache/), test tools for OCI sources.
registry:
	@bash hack/registry/build.sh >/dev/null

# helm from the pinned Go module (cached under .cache/), a test tool for the chart.
HELM = $$(bash hack/helm/build.sh)
CHART := charts/palyra-skills-operator
# Render for the Kubernetes release the local control plane is built from.
KUBE_VERSION = $$(awk '$$1 == "k8s.io/kubernetes" { print $$2 }' hack/control-plane/kube-apiserver/go.mod)

chart-lint:
	@helm=$(HELM) && $$helm lint --strict $(CHART) && $$helm template palyra $(CHART) --namespace palyra-system --kube-version $(KUBE_VERSION) >/dev/null && echo "chart-lint: $(CHART) lints and renders"

# helm is built before the integration tests, which render the chart with it.
helm:
	@bash hack/helm/build.sh >/dev/null

test-integration: install control-plane helm registry
	npm run test:integration

cluster-up: install control-plane
	@$(NODE) hack/control-plane/cluster.ts up

cluster-down: install
	@$(NODE) hack/control-plane/cluster.ts down

check: typecheck lint test test-integration soak-short

# The scale benchmark's soak mode, short: 1,000 Skills converge, then 20 s of steady
# create/update/delete; fails if the queue does not drain or the artifact cache outgrows the
# distinct artifacts (memory and timing figures are printed, not judged, on a shared CI box).
# The fast-check properties with 200 times their CI run count (about 10 minutes on 2 cores: the archive properties and the inflate differential);
# PALYRA_FUZZ_SCALE=N to choose. Counterexamples print a seed to replay.
fuzz: install
	PALYRA_FUZZ_SCALE=$${PALYRA_FUZZ_SCALE:-200} $(NODE) --test --test-reporter=spec test/unit/archive-properties.test.ts test/unit/inflate.test.ts

soak-short: install control-plane
	npm run bench:scale -- --skills 1000 --namespaces 20 --publishers 10 --artifacts 20 --soak-seconds 20 --timeout-seconds 180

bench: install control-plane
	npm run bench:verify
	npm run bench:cli
	npm run bench:controller
	npm run bench:webhook
	npm run bench:delivery
	npm run bench:oci
	npm run bench:scale -- --soak-seconds 120

# The container image (Dockerfile) and the kind end-to-end run need a Docker engine; without
# one they say so and fail: they are never counted as passing on such a host.
IMAGE ?= palyra/palyra-skills-operator:$$(node -p 'require("./package.json").version')

image:
	@if ! docker info >/dev/null 2>&1; then \
	  echo "image: no Docker engine on this host; cannot build the image (not built)"; exit 2; fi
	docker build -t $(IMAGE) .

e2e-kind: helm
	@if ! docker info >/dev/null 2>&1 || ! command -v kind >/dev/null; then \
	  echo "e2e-kind: needs a Docker engine and kind; this host lacks them, so the kind e2e suite cannot run here (not run, not passed)"; exit 2; fi
	IMAGE=$(IMAGE) HELM=$$(bash hack/helm/build.sh) bash hack/e2e/kind.sh

clean:
	rm -rf $(OUT)
