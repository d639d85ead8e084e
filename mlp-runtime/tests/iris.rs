//! Loads the iris data set shipped in `data/` and checks its size and classes.

use std::path::Path;

use mlp_runtime::data::{load_csv, TargetColumn};

#[test]
fn iris_loads_with_three_classes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/iris.csv");
    let data = load_csv(&path, &[TargetColumn::OneHot("species".into())]).expect("load iris");
    assert_eq!(data.len(), 150);
    assert_eq!(
        data.input_names(),
        ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    );
    let classes = &data.class_columns()[0].classes;
    assert_eq!(classes, &["setosa", "versicolor", "virginica"]);
    assert_eq!(data.target_len(), 3);
    // Each sample has exactly one class, and each class has 50 samples.
    let mut counts = [0.0; 3];
    for i in 0..data.len() {
        let target = data.target(i);
        assert_eq!(target.iter().sum::<f64>(), 1.0, "sample {i}: {target:?}");
        for (count, &t) in counts.iter_mut().zip(target) {
            *count += t;
        }
    }
    assert_eq!(counts, [50.0; 3]);
}
