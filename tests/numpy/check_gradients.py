"""Check the gradients of an emitted numpy module against central finite differences.

Usage: python3 check_gradients.py MODULE.py SEED...

For each seed, every named dimension gets a random size from 1 to 4 (dimensions with a declared
size keep it), every declared tensor gets standard normal values, and every abstract function is
tanh. Each entry of gradients() is compared with a central difference of the loss computed by
forward(). The script prints one line per mismatch and exits with status 1 if there is any.
"""

import importlib.util
import sys

import numpy as np

STEP = 1e-6
RELATIVE_TOLERANCE = 1e-6
# Rounding in a central difference is about machine epsilon times |L| / STEP, near 1e-10 |L|.
ABSOLUTE_TOLERANCE = 1e-7


def load_module(path):
    spec = importlib.util.spec_from_file_location("emitted", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tanh_functions(names):
    """Return tanh and its first three derivatives under the keys that `fns` uses."""

    def prime(x):
        return 1.0 - np.tanh(x) ** 2

    def prime2(x):
        t = np.tanh(x)
        return -2.0 * t * (1.0 - t**2)

    def prime3(x):
        t = np.tanh(x)
        return (6.0 * t**2 - 2.0) * (1.0 - t**2)

    fns = {}
    for name in names:
        fns[name] = np.tanh
        fns[f"{name}_prime"] = prime
        fns[f"{name}_prime2"] = prime2
        fns[f"{name}_prime3"] = prime3
    return fns


def draw_values(module, rng):
    sizes = {dim: int(rng.integers(1, 5)) for dim in module.DIMS}
    sizes.update(module.DIM_SIZES)
    params, inputs = {}, {}
    for name, role, shape in module.TENSORS:
        concrete = tuple(dim if isinstance(dim, int) else sizes[dim] for dim in shape)
        value = np.asarray(rng.normal(size=concrete), dtype=np.float64)
        (params if role == "param" else inputs)[name] = value
    return sizes, params, inputs


def check_seed(module, seed, fns):
    """Return the mismatch messages and the number of entries compared for one seed."""
    rng = np.random.default_rng(seed)
    sizes, params, inputs = draw_values(module, rng)
    failures = []

    values = module.forward(params, inputs, fns)
    if set(values) != set(module.RELATIONS):
        failures.append(f"seed {seed}: forward() returned {sorted(values)}, "
                        f"expected {sorted(module.RELATIONS)}")

    def loss(trial):
        return float(module.forward(trial, inputs, fns)[module.LOSS])

    grads = module.gradients(params, inputs, fns)
    if set(grads) != set(module.PARAMS):
        failures.append(f"seed {seed}: gradients() returned {sorted(grads)}, "
                        f"expected {sorted(module.PARAMS)}")
        return failures, 0

    compared = 0
    for name in module.PARAMS:
        grad = np.asarray(grads[name])
        if grad.shape != params[name].shape:
            failures.append(f"seed {seed}: gradient of {name} has shape {grad.shape}, "
                            f"expected {params[name].shape} (sizes {sizes})")
            continue
        for at in np.ndindex(params[name].shape):
            plus = {key: value.copy() for key, value in params.items()}
            minus = {key: value.copy() for key, value in params.items()}
            plus[name][at] += STEP
            minus[name][at] -= STEP
            expected = (loss(plus) - loss(minus)) / (2 * STEP)
            actual = float(grad[at])
            scale = max(abs(expected), abs(actual))
            floor = ABSOLUTE_TOLERANCE * max(1.0, abs(loss(params)))
            compared += 1
            if abs(actual - expected) > RELATIVE_TOLERANCE * scale + floor:
                failures.append(f"seed {seed}: ∂{module.LOSS}/∂{name}{list(at)} is {actual!r}, "
                                f"finite differences give {expected!r} (sizes {sizes})")
    return failures, compared


def main():
    module = load_module(sys.argv[1])
    fns = tanh_functions(module.FUNCTIONS)
    failures = []
    compared = 0
    for seed in map(int, sys.argv[2:]):
        seed_failures, seed_compared = check_seed(module, seed, fns)
        failures += seed_failures
        compared += seed_compared
    for failure in failures:
        print(failure)
    print(f"{compared} gradient entries compared, {len(failures)} mismatches")
    if failures or compared == 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
