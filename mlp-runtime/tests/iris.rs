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

#[test]
fn iris_classifier_trains() {
    use mlp_runtime::data::Standardizer;
    use mlp_runtime::init::{initialize, Init};
    use mlp_runtime::train::{accuracy, train, TrainConfig};
    use mlp_runtime::{Adam, AdamConfig, TwoLayerMlp};

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/iris.csv");
    let data = load_csv(&path, &[TargetColumn::OneHot("species".into())]).expect("load iris");
    let (mut train_set, mut test_set) = data.split(0.2, 1).expect("valid fraction");
    let standardizer = Standardizer::fit(&train_set);
    standardizer.apply(&mut train_set).expect("same columns");
    standardizer.apply(&mut test_set).expect("same columns");

    // The reference model regresses the one-hot targets with MSE; the arg-max is the class.
    let mut model = TwoLayerMlp::<f32, 4, 16, 3>::default();
    initialize(&mut model, Init::HeNormal, 2);
    let config = AdamConfig {
        learning_rate: 0.01,
        ..AdamConfig::default()
    };
    let mut optimizer = Adam::new(config, &model);
    let train_config = TrainConfig {
        epochs: 100,
        batch_size: 16,
        seed: 3,
        progress: false,
    };
    let history = train(&mut model, &mut optimizer, &train_set, &train_config).expect("trains");
    let first = history.epoch_losses[0];
    let last = history.epoch_losses[history.epoch_losses.len() - 1];
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    let test_accuracy = accuracy(&model, &test_set).expect("same columns");
    assert!(test_accuracy >= 0.9, "test accuracy {test_accuracy}");
}
