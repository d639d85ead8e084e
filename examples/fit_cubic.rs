//! Fits the ReLU perceptron of `examples/relu_net.mlp` to f(x) = x³ − 9x on [−4, 4] with
//! hidden widths 1, 2 and 64, prints the final mean squared error of each width and writes a
//! plot of each fit against the target as SVG.
//!
//! Run with `cargo run --release --example fit_cubic [PLOT_DIR]`; the plots go to
//! `target/plots/` unless a directory is given.

use std::error::Error;
use std::path::{Path, PathBuf};

use mlp_runtime::data::Dataset;
use mlp_runtime::init::{initialize, Init};
use mlp_runtime::train::{train, TrainConfig};
use mlp_runtime::{derive_mlp, Adam, AdamConfig, Model};
use plotters::prelude::*;

#[derive_mlp(file = "examples/relu_net.mlp")]
#[allow(non_snake_case)]
pub struct ReluNet<const I: usize, const N: usize, const O: usize> {
    pub W1: [[f32; I]; N],
    pub b1: [f32; N],
    pub W2: [[f32; N]; O],
    pub b2: [f32; O],
}

const X_MIN: f64 = -4.0;
const X_MAX: f64 = 4.0;
/// Half the width of the input interval: x / X_SCALE lies in [−1, 1].
const X_SCALE: f64 = 4.0;
/// The largest |f(x)| on [−4, 4], reached at x = ±4: y / Y_SCALE lies in [−1, 1].
const Y_SCALE: f64 = 28.0;
const SAMPLES: usize = 256;
const EPOCHS: usize = 3000;

fn cubic(x: f64) -> f64 {
    x * x * x - 9.0 * x
}

fn grid(count: usize) -> Vec<f64> {
    (0..count)
        .map(|i| X_MIN + (X_MAX - X_MIN) * i as f64 / (count - 1) as f64)
        .collect()
}

/// Trains a width-`N` network on the scaled samples and returns its predictions on `xs`, in
/// the original units of y.
fn fit<const N: usize>(data: &Dataset, xs: &[f64]) -> Result<Vec<f64>, Box<dyn Error>> {
    let mut model = Box::<ReluNet<1, N, 1>>::default();
    initialize(&mut *model, Init::HeNormal, 7);
    let adam = AdamConfig {
        learning_rate: 0.005,
        ..AdamConfig::default()
    };
    let mut optimizer = Adam::new(adam, &*model);
    let config = TrainConfig {
        epochs: EPOCHS,
        batch_size: 32,
        progress: false,
        ..TrainConfig::default()
    };
    train(&mut *model, &mut optimizer, data, &config)?;
    let mut tape = <ReluNet<1, N, 1> as Model>::Tape::default();
    let predictions = xs
        .iter()
        .map(|&x| {
            model.predict(&[(x / X_SCALE) as f32], &mut tape);
            f64::from(ReluNet::<1, N, 1>::output(&tape)[0]) * Y_SCALE
        })
        .collect();
    Ok(predictions)
}

fn plot(path: &Path, width: usize, xs: &[f64], fit: &[f64]) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("ReLU perceptron, hidden width {width}, fit to x^3 - 9x"),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(X_MIN..X_MAX, -30.0..30.0)?;
    chart.configure_mesh().x_desc("x").y_desc("y").draw()?;
    chart
        .draw_series(LineSeries::new(
            xs.iter().map(|&x| (x, cubic(x))),
            BLUE.stroke_width(2),
        ))?
        .label("target x^3 - 9x")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            xs.iter().copied().zip(fit.iter().copied()),
            RED.stroke_width(2),
        ))?
        .label(format!("fit, width {width}"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let plot_dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/plots")),
        PathBuf::from,
    );
    std::fs::create_dir_all(&plot_dir)?;

    let train_xs = grid(SAMPLES);
    let inputs = train_xs.iter().map(|x| x / X_SCALE).collect();
    let targets = train_xs.iter().map(|&x| cubic(x) / Y_SCALE).collect();
    let data = Dataset::new(vec!["x".into()], vec!["y".into()], inputs, targets)?;

    let xs = grid(1001);
    let fits: [(usize, Vec<f64>); 3] = [
        (1, fit::<1>(&data, &xs)?),
        (2, fit::<2>(&data, &xs)?),
        (64, fit::<64>(&data, &xs)?),
    ];
    for (width, predictions) in &fits {
        let mse = xs
            .iter()
            .zip(predictions)
            .map(|(&x, p)| (p - cubic(x)).powi(2))
            .sum::<f64>()
            / xs.len() as f64;
        let path = plot_dir.join(format!("fit_cubic_width_{width}.svg"));
        plot(&path, *width, &xs, predictions)?;
        println!(
            "width {width:>2}: MSE {mse:.4} on 1001 points of [-4, 4]; plot {}",
            path.display()
        );
    }
    Ok(())
}
