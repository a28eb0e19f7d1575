# restock: the two commands a new machine needs are `make sim` and `make test`; each sets
# itself up first (apt packages, the venv with ROS 2 Kilted wheels, the project).
.PHONY: setup sim test lint bench train-detector train-lane-front gazebo-world clean

setup:
	bash scripts/setup.sh

sim: setup
	.venv/bin/restock sim $(ARGS)

test: setup
	bash scripts/test.sh $(ARGS)

lint:
	.venv/bin/ruff check restock test bench launch && .venv/bin/ruff format --check restock test bench launch

bench: setup
	for b in bench/*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

train-detector:
	RESTOCK_TRAIN=1 bash scripts/setup.sh
	.venv/bin/restock train-detector $(ARGS)

train-lane-front:
	RESTOCK_TRAIN=1 bash scripts/setup.sh
	.venv/bin/restock train-lane-front $(ARGS)

clean:
	rm -rf .venv var build *.egg-info
