"""Compare forward() of an emitted numpy module with values computed elsewhere.

Usage: python3 compare_forward.py MODULE.py DATA.py

DATA.py defines PARAMS, INPUTS and EXPECTED (the value of every relation) as dicts of numpy
arrays. Abstract functions are tanh, as in check_gradients.py. The script prints one line per
relation that differs and exits with status 1 if there is any.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_gradients import load_module, tanh_functions  # noqa: E402


def main():
    module = load_module(sys.argv[1])
    data = load_module(sys.argv[2])
    values = module.forward(data.PARAMS, data.INPUTS, tanh_functions(module.FUNCTIONS))
    failures = []
    for name, expected in data.EXPECTED.items():
        if name not in values:
            failures.append(f"forward() returned no value for {name}")
            continue
        actual = np.asarray(values[name])
        if actual.shape != expected.shape:
            failures.append(f"{name} has shape {actual.shape}, expected {expected.shape}")
        elif not np.allclose(actual, expected, rtol=1e-12, atol=1e-12):
            failures.append(f"{name} is {actual.tolist()}, expected {expected.tolist()}")
    for failure in failures:
        print(failure)
    print(f"{len(data.EXPECTED)} relations compared, {len(failures)} differ")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
