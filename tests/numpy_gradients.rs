//! Runs the Python module that `mlp derive --emit numpy` prints. Its gradients are compared with
//! finite differences of its own forward pass, its forward pass with the Rust evaluator, and its
//! input checks with the expected errors. These tests need python3 with numpy, and fail when
//! either is missing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mlp::symbolic::codegen::numpy;
use mlp::symbolic::eval::{self, Array, Values};
use mlp::symbolic::{Dim, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The seeds of the random sizes and values that check_gradients.py draws.
const SEEDS: &[&str] = &["1", "2", "3", "4"];

fn repository_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn load(model: &str) -> mlp::DerivationReport {
    let source = std::fs::read_to_string(repository_path(model))
        .unwrap_or_else(|error| panic!("cannot read {model}: {error}"));
    mlp::load(&source).unwrap_or_else(|error| panic!("{model} does not load: {error:?}"))
}

fn emit_module(model: &str) -> String {
    numpy::emit(&load(model).derivation, model)
        .unwrap_or_else(|error| panic!("cannot emit numpy code for {model}: {error}"))
}

/// A directory under the system's temporary directory, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> ScratchDir {
        let path = std::env::temp_dir().join(format!("mlp-numpy-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
        ScratchDir(path)
    }

    fn write(&self, file: &str, contents: &str) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs python3 and returns whether it succeeded, with its stdout and stderr.
fn run_python(args: &[&Path], extra: &[&str]) -> (bool, String) {
    let output = Command::new("python3")
        .args(args)
        .args(extra)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run python3 ({error}): install python3 and numpy to run this test")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn check_gradients(model: &str) {
    let name = Path::new(model).file_stem().unwrap().to_string_lossy();
    let scratch = ScratchDir::new(&format!("gradients-{name}"));
    let module = scratch.write("emitted.py", &emit_module(model));
    let driver = repository_path("tests/numpy/check_gradients.py");
    let (success, output) = run_python(&[&driver, &module], SEEDS);
    assert!(success, "gradients of {model} disagree:\n{output}");
    assert!(output.contains(" 0 mismatches"), "{output}");
}

#[test]
fn perceptron_gradients_match() {
    check_gradients("examples/perceptron.mlp");
}

#[test]
fn tanh_mlp_gradients_match() {
    check_gradients("tests/models/tanh3.mlp");
}

#[test]
fn builtin_functions_gradients_match() {
    check_gradients("tests/models/builtins.mlp");
}

#[test]
fn explicit_deltas_gradients_match() {
    check_gradients("tests/models/deltas.mlp");
}

#[test]
fn scalar_tensors_gradients_match() {
    check_gradients("tests/models/scalar.mlp");
    check_gradients("tests/numpy/scalar_second_derivative.mlp");
}

#[test]
fn matrix_product_gradients_match() {
    check_gradients("tests/models/matmul.mlp");
}

fn tanh_derivative(order: u32, x: f64) -> f64 {
    let t = x.tanh();
    match order {
        0 => t,
        1 => 1.0 - t * t,
        2 => -2.0 * t * (1.0 - t * t),
        _ => (6.0 * t * t - 2.0) * (1.0 - t * t),
    }
}

/// `np.array([...], dtype=np.float64).reshape((...))`.
fn python_array(array: &Array) -> String {
    let data: Vec<String> = array.data.iter().map(|x| format!("{x:?}")).collect();
    let shape: Vec<String> = array.shape.iter().map(ToString::to_string).collect();
    format!(
        "np.array([{}], dtype=np.float64).reshape(({}{}))",
        data.join(", "),
        shape.join(", "),
        if shape.len() == 1 { "," } else { "" }
    )
}

fn python_dict(entries: &[(&str, &Array)]) -> String {
    let mut out = String::from("{\n");
    for (name, array) in entries {
        writeln!(out, "    \"{name}\": {},", python_array(array)).unwrap();
    }
    out.push('}');
    out
}

/// Evaluates the forward pass of `model` in Rust with random values, and checks that the
/// emitted module computes the same value for every relation.
fn check_forward(model_path: &str, sizes: &[(&str, usize)]) {
    let report = load(model_path);
    let model: &Model = &report.derivation.model;
    let mut values = Values::default();
    for (dim, size) in sizes {
        values.dims.insert(Dim::Named((*dim).to_string()), *size);
    }
    let mut rng = StdRng::seed_from_u64(7);
    for tensor in &model.tensors {
        let shape = values
            .shape(&tensor.shape)
            .expect("every dimension has a size");
        let mut array = Array::zeros(shape);
        for value in &mut array.data {
            *value = rng.gen_range(-1.5..1.5);
        }
        values.tensors.insert(tensor.name.clone(), array);
    }
    let declared: Vec<(Arc<str>, bool)> = model
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.role == mlp::grammar::TensorRole::Param))
        .collect();
    let functions = |_: &str, order: u32, x: f64| tanh_derivative(order, x);
    eval::forward(model, &mut values, &functions).expect("the Rust forward pass runs");

    let pick = |want_param: bool| -> Vec<(&str, &Array)> {
        declared
            .iter()
            .filter(|(_, is_param)| *is_param == want_param)
            .map(|(name, _)| (&**name, &values.tensors[name]))
            .collect()
    };
    let expected: Vec<(&str, &Array)> = model
        .relations
        .iter()
        .map(|r| (r.name(), &values.tensors[&r.lhs.name]))
        .collect();
    let data = format!(
        "import numpy as np\n\nPARAMS = {}\nINPUTS = {}\nEXPECTED = {}\n",
        python_dict(&pick(true)),
        python_dict(&pick(false)),
        python_dict(&expected)
    );

    let name = Path::new(model_path).file_stem().unwrap().to_string_lossy();
    let scratch = ScratchDir::new(&format!("forward-{name}"));
    let module = scratch.write("emitted.py", &emit_module(model_path));
    let data = scratch.write("data.py", &data);
    let driver = repository_path("tests/numpy/compare_forward.py");
    let (success, output) = run_python(&[&driver, &module, &data], &[]);
    assert!(success, "forward values of {model_path} differ:\n{output}");
}

#[test]
fn perceptron_forward_matches_evaluator() {
    check_forward("examples/perceptron.mlp", &[("I", 3), ("N", 4), ("O", 2)]);
}

#[test]
fn matrix_product_forward_matches_evaluator() {
    check_forward("tests/models/matmul.mlp", &[("B", 3), ("I", 2), ("O", 4)]);
}

/// Runs `call` in Python with the module imported as `m` and `np` available, and returns what
/// it prints. A ValueError is caught and printed as `ValueError: message`.
fn run_snippet(model: &str, name: &str, call: &str) -> String {
    let scratch = ScratchDir::new(name);
    scratch.write("emitted.py", &emit_module(model));
    let script = format!(
        "import sys\nsys.path.insert(0, {dir:?})\nimport numpy as np\nimport emitted as m\n\
         try:\n    {call}\n    print(\"no error\")\nexcept ValueError as error:\n    \
         print(f\"ValueError: {{error}}\")\n",
        dir = scratch.0.display().to_string(),
    );
    let script = scratch.write("snippet.py", &script);
    let (success, output) = run_python(&[&script], &[]);
    assert!(success, "the snippet failed:\n{output}");
    output
}

#[test]
fn mismatched_axis_raises_value_error() {
    let output = run_snippet(
        "examples/perceptron.mlp",
        "mismatch",
        "m.gradients({\"W1\": np.ones((4, 2)), \"b1\": np.ones(4), \"W2\": np.ones((2, 4)), \
         \"b2\": np.ones(2)}, {\"x\": np.ones(3), \"y\": np.ones(2)}, \
         {\"sigma\": np.tanh, \"sigma_prime\": np.cos})",
    );
    assert!(
        output.contains(
            "ValueError: axis 1 of param 'W1' has size 2, but dimension I has size 3 \
             (from axis 0 of 'x')"
        ),
        "{output}"
    );
}

#[test]
fn literal_size_is_checked() {
    let output = run_snippet(
        "tests/models/deltas.mlp",
        "literal",
        "m.forward({\"W\": np.ones((2, 2)), \"v\": np.ones(3), \"u\": np.ones(2)}, \
         {\"x\": np.ones(2), \"z\": np.ones(5)})",
    );
    assert!(
        output.contains(
            "ValueError: axis 0 of input 'z' has size 5, but its declaration gives size 2"
        ),
        "{output}"
    );
}

#[test]
fn declared_dim_size_is_checked() {
    let output = run_snippet(
        "tests/models/deltas.mlp",
        "declared",
        "m.forward({\"W\": np.ones((2, 2)), \"v\": np.ones(4), \"u\": np.ones(2)}, \
         {\"x\": np.ones(2), \"z\": np.ones(2)})",
    );
    assert!(
        output.contains(
            "ValueError: axis 0 of param 'v' has size 4, but dimension K has size 3 \
             (from `dim K = 3`)"
        ),
        "{output}"
    );
}

#[test]
fn missing_derivative_raises_value_error() {
    let output = run_snippet(
        "tests/numpy/scalar_second_derivative.mlp",
        "missing-fn",
        "m.gradients({\"w\": np.ones(2), \"c\": 0.5}, {\"x\": np.ones(2), \"t\": 1.0, \
         \"y\": 0.0}, {\"f\": np.tanh, \"f_prime\": np.cos})",
    );
    assert!(
        output.contains("ValueError: fns is missing f_prime2"),
        "{output}"
    );
}

#[test]
fn missing_tensor_raises_value_error() {
    let output = run_snippet(
        "tests/numpy/scalar_second_derivative.mlp",
        "missing-tensor",
        "m.forward({\"w\": np.ones(2)}, {\"x\": np.ones(2), \"t\": 1.0, \"y\": 0.0}, \
         {\"f\": np.tanh, \"f_prime\": np.cos})",
    );
    assert!(
        output.contains("ValueError: params is missing the param 'c'"),
        "{output}"
    );
}

#[test]
fn perceptron_module_snapshot() {
    insta::assert_snapshot!(emit_module("examples/perceptron.mlp"));
}

#[test]
fn cli_prints_the_emitted_module() {
    let output = Command::new(env!("CARGO_BIN_EXE_mlp"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["derive", "examples/perceptron.mlp", "--emit", "numpy"])
        .output()
        .expect("the mlp binary runs");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        emit_module("examples/perceptron.mlp")
    );
}

#[test]
fn declared_dim_sizes_are_listed() {
    let module = emit_module("tests/models/deltas.mlp");
    assert!(module.contains("DIM_SIZES = {\"K\": 3}"), "{module}");
}
