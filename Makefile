.PHONY: run test lint check
run:
	scripts/run
test:
	scripts/test
lint:
	scripts/lint
check: lint test
