# The README's two commands: `make demo` (the main job) and `make test` (install + all tests).
.PHONY: demo test bootstrap dev-up dev-down

demo:
	hack/bootstrap.sh
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/shadowgate demo

test:
	hack/test.sh

bootstrap:
	hack/bootstrap.sh

dev-up:
	.venv/bin/shadowgate dev up

dev-down:
	.venv/bin/shadowgate dev down
