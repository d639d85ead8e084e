//! Tabular data sets: CSV loading, one-hot class targets, seeded split and shuffle,
//! standardization and mini-batches.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use thiserror::Error;

use crate::scalar::Scalar;

/// An error while loading or transforming a data set.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened.
    #[error("failed to open {}: {source}", path.display())]
    Open {
        /// Path of the file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The CSV reader failed: an I/O error, invalid UTF-8 or a row with the wrong number of
    /// fields. The message of `source` names the line.
    #[error("failed to read CSV {source_name}: {source}")]
    Csv {
        /// Path or description of the input.
        source_name: String,
        /// Underlying CSV error.
        source: csv::Error,
    },
    /// A requested target column is not in the header.
    #[error("{source_name}: column {column:?} not found; the header has {available}")]
    MissingColumn {
        /// Path or description of the input.
        source_name: String,
        /// Requested column.
        column: String,
        /// Header columns, comma-separated.
        available: String,
    },
    /// The header names a column twice, so a column name would be ambiguous.
    #[error("{source_name}: column {column:?} appears more than once in the header")]
    DuplicateColumn {
        /// Path or description of the input.
        source_name: String,
        /// Repeated column.
        column: String,
    },
    /// A numeric field is empty, not a number, or not finite.
    #[error(
        "{source_name}, row {row}, column {column:?}: invalid number {text:?} \
         (expected a finite decimal number)"
    )]
    InvalidNumber {
        /// Path or description of the input.
        source_name: String,
        /// 1-based row number as counted in the file, the header being row 1.
        row: u64,
        /// Name of the column.
        column: String,
        /// Field text as read.
        text: String,
    },
    /// The input has a header but no data rows.
    #[error("{source_name}: no data rows after the header")]
    Empty {
        /// Path or description of the input.
        source_name: String,
    },
    /// No target columns were requested.
    #[error("no target columns given; name at least one target column")]
    NoTargets,
    /// Every column is a target, so no input columns remain.
    #[error("{source_name}: no input columns remain after removing the target columns")]
    NoInputs {
        /// Path or description of the input.
        source_name: String,
    },
    /// Values and names passed to [`Dataset::new`] do not fit together.
    #[error("invalid data set: {0}")]
    InvalidShape(String),
    /// A fraction outside `[0, 1]` was given to [`Dataset::split`].
    #[error("invalid test fraction {0}: expected a number from 0 to 1")]
    InvalidFraction(f64),
    /// A batch size of zero was given.
    #[error("invalid batch size 0: expected at least 1")]
    InvalidBatchSize,
    /// A [`Standardizer`] was applied to a data set with another number of input columns.
    #[error("standardizer was fitted on {fitted} input columns but the data set has {found}")]
    StandardizerMismatch {
        /// Input columns at fit time.
        fitted: usize,
        /// Input columns of the data set.
        found: usize,
    },
}

/// Target column of a CSV file and its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetColumn {
    /// A numeric column used as one target value.
    Numeric(String),
    /// A string class column encoded as one target per distinct class (one-hot), with the
    /// classes in sorted order.
    OneHot(String),
}

/// The classes of a one-hot encoded target column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassColumn {
    /// Name of the CSV column.
    pub column: String,
    /// Distinct class labels in sorted order; class `k` is target entry `offset + k`.
    pub classes: Vec<String>,
    /// Position of the first one-hot entry within a target row.
    pub offset: usize,
}

/// An in-memory data set of `len` samples, each with `input_len` inputs and `target_len`
/// targets, stored row-major in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    input_names: Vec<String>,
    target_names: Vec<String>,
    inputs: Vec<f64>,
    targets: Vec<f64>,
    class_columns: Vec<ClassColumn>,
}

impl Dataset {
    /// Creates a data set from row-major `inputs` and `targets` with one name per column.
    ///
    /// # Errors
    ///
    /// Returns [`DataError::InvalidShape`] if a name list is empty, if the value counts are not
    /// multiples of the column counts, or if inputs and targets have different row counts.
    pub fn new(
        input_names: Vec<String>,
        target_names: Vec<String>,
        inputs: Vec<f64>,
        targets: Vec<f64>,
    ) -> Result<Self, DataError> {
        if input_names.is_empty() || target_names.is_empty() {
            return Err(DataError::InvalidShape(
                "a data set needs at least one input and one target column".into(),
            ));
        }
        if inputs.len() % input_names.len() != 0 || targets.len() % target_names.len() != 0 {
            return Err(DataError::InvalidShape(format!(
                "{} input values do not fill rows of {} columns, or {} target values rows of {}",
                inputs.len(),
                input_names.len(),
                targets.len(),
                target_names.len()
            )));
        }
        let input_rows = inputs.len() / input_names.len();
        let target_rows = targets.len() / target_names.len();
        if input_rows != target_rows {
            return Err(DataError::InvalidShape(format!(
                "{input_rows} input rows but {target_rows} target rows"
            )));
        }
        Ok(Self {
            input_names,
            target_names,
            inputs,
            targets,
            class_columns: Vec::new(),
        })
    }

    /// Returns the number of samples.
    pub fn len(&self) -> usize {
        self.inputs.len() / self.input_names.len()
    }

    /// Returns `true` if the data set has no samples.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Returns the number of inputs per sample.
    pub fn input_len(&self) -> usize {
        self.input_names.len()
    }

    /// Returns the number of targets per sample (one per class for a one-hot column).
    pub fn target_len(&self) -> usize {
        self.target_names.len()
    }

    /// Returns the input column names.
    pub fn input_names(&self) -> &[String] {
        &self.input_names
    }

    /// Returns the target names; a one-hot column `c` with class `k` is named `c=k`.
    pub fn target_names(&self) -> &[String] {
        &self.target_names
    }

    /// Returns the one-hot encoded class columns and their classes.
    pub fn class_columns(&self) -> &[ClassColumn] {
        &self.class_columns
    }

    /// Returns all inputs, row-major.
    pub fn inputs(&self) -> &[f64] {
        &self.inputs
    }

    /// Returns all targets, row-major.
    pub fn targets(&self) -> &[f64] {
        &self.targets
    }

    /// Returns the inputs of sample `index`.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.len()`.
    pub fn input(&self, index: usize) -> &[f64] {
        let width = self.input_len();
        &self.inputs[index * width..(index + 1) * width]
    }

    /// Returns the targets of sample `index`.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.len()`.
    pub fn target(&self, index: usize) -> &[f64] {
        let width = self.target_len();
        &self.targets[index * width..(index + 1) * width]
    }

    /// Returns a data set with the samples at `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Self {
        let mut inputs = Vec::with_capacity(indices.len() * self.input_len());
        let mut targets = Vec::with_capacity(indices.len() * self.target_len());
        for &index in indices {
            inputs.extend_from_slice(self.input(index));
            targets.extend_from_slice(self.target(index));
        }
        Self {
            input_names: self.input_names.clone(),
            target_names: self.target_names.clone(),
            inputs,
            targets,
            class_columns: self.class_columns.clone(),
        }
    }

    /// Reorders the samples randomly; the same seed gives the same order.
    pub fn shuffle(&mut self, seed: u64) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        *self = self.select(&order);
    }

    /// Splits the samples randomly into `(train, test)`, with `round(len * test_fraction)`
    /// samples in the test set; the same seed gives the same split.
    ///
    /// # Errors
    ///
    /// Returns [`DataError::InvalidFraction`] unless `test_fraction` is in `[0, 1]`.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Self, Self), DataError> {
        if !(0.0..=1.0).contains(&test_fraction) {
            return Err(DataError::InvalidFraction(test_fraction));
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let test_len = (self.len() as f64 * test_fraction).round() as usize;
        let (test, train) = order.split_at(test_len.min(self.len()));
        Ok((self.select(train), self.select(test)))
    }
}

/// Loads a CSV file with a header row, reading `targets` as target columns and every other
/// column as a numeric input, in file order.
///
/// # Errors
///
/// Returns a [`DataError`] if the file cannot be opened or parsed, a target column is missing,
/// or an input or numeric target field is not a finite number. A bad field's error names the
/// row and column.
pub fn load_csv(path: impl AsRef<Path>, targets: &[TargetColumn]) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| DataError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    read_csv(file, &path.display().to_string(), targets)
}

/// Reads CSV data with a header row from `reader` like [`load_csv`]; `source_name` names the
/// input in error messages.
///
/// # Errors
///
/// As for [`load_csv`].
pub fn read_csv(
    reader: impl Read,
    source_name: &str,
    targets: &[TargetColumn],
) -> Result<Dataset, DataError> {
    if targets.is_empty() {
        return Err(DataError::NoTargets);
    }
    let csv_error = |source| DataError::Csv {
        source_name: source_name.to_string(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_string)
        .collect();
    for (position, name) in header.iter().enumerate() {
        if header[..position].contains(name) {
            return Err(DataError::DuplicateColumn {
                source_name: source_name.to_string(),
                column: name.clone(),
            });
        }
    }

    let column_index = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::MissingColumn {
                source_name: source_name.to_string(),
                column: name.to_string(),
                available: header.join(","),
            })
    };
    let mut target_indices = Vec::with_capacity(targets.len());
    for target in targets {
        let name = match target {
            TargetColumn::Numeric(name) | TargetColumn::OneHot(name) => name,
        };
        target_indices.push(column_index(name)?);
    }
    let input_indices: Vec<usize> = (0..header.len())
        .filter(|index| !target_indices.contains(index))
        .collect();
    if input_indices.is_empty() {
        return Err(DataError::NoInputs {
            source_name: source_name.to_string(),
        });
    }

    let parse = |text: &str, row: u64, column: usize| -> Result<f64, DataError> {
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(DataError::InvalidNumber {
                source_name: source_name.to_string(),
                row,
                column: header[column].clone(),
                text: text.to_string(),
            }),
        }
    };

    // Class labels are kept as text until all rows are read, because the one-hot width
    // depends on the set of classes. Numeric fields are parsed right away.
    let mut inputs = Vec::new();
    let mut numeric_targets: Vec<f64> = Vec::new();
    let mut labels: Vec<Vec<String>> = vec![Vec::new(); targets.len()];
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        // The csv crate counts lines from 1 with the header on line 1; this equals the row
        // number as a person counts it in the file unless a quoted field spans lines.
        let row = record.position().map_or(rows as u64 + 2, |p| p.line());
        for &column in &input_indices {
            inputs.push(parse(&record[column], row, column)?);
        }
        for ((target, &column), column_labels) in
            targets.iter().zip(&target_indices).zip(&mut labels)
        {
            match target {
                TargetColumn::Numeric(_) => {
                    numeric_targets.push(parse(&record[column], row, column)?)
                }
                TargetColumn::OneHot(_) => column_labels.push(record[column].to_string()),
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::Empty {
            source_name: source_name.to_string(),
        });
    }

    let mut target_names = Vec::new();
    let mut class_columns = Vec::new();
    for (target, column_labels) in targets.iter().zip(&labels) {
        match target {
            TargetColumn::Numeric(name) => target_names.push(name.clone()),
            TargetColumn::OneHot(name) => {
                let classes: BTreeSet<&String> = column_labels.iter().collect();
                let classes: Vec<String> = classes.into_iter().cloned().collect();
                class_columns.push(ClassColumn {
                    column: name.clone(),
                    classes: classes.clone(),
                    offset: target_names.len(),
                });
                target_names.extend(classes.iter().map(|class| format!("{name}={class}")));
            }
        }
    }

    let numeric_count = targets
        .iter()
        .filter(|t| matches!(t, TargetColumn::Numeric(_)))
        .count();
    let mut target_values = Vec::with_capacity(rows * target_names.len());
    for row in 0..rows {
        let mut numeric = numeric_targets[row * numeric_count..(row + 1) * numeric_count].iter();
        let mut class_column = class_columns.iter();
        for (target, column_labels) in targets.iter().zip(&labels) {
            match target {
                TargetColumn::Numeric(_) => target_values.extend(numeric.next().copied()),
                TargetColumn::OneHot(_) => {
                    let Some(column) = class_column.next() else {
                        continue;
                    };
                    let label = &column_labels[row];
                    target_values.extend(
                        column
                            .classes
                            .iter()
                            .map(|c| f64::from(u8::from(c == label))),
                    );
                }
            }
        }
    }

    let input_names = input_indices.iter().map(|&i| header[i].clone()).collect();
    let mut dataset = Dataset::new(input_names, target_names, inputs, target_values)?;
    dataset.class_columns = class_columns;
    Ok(dataset)
}

/// Per-column mean and scale of the inputs of a training set, applied as
/// `(x - mean) / scale` to any data set with the same columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Mean of each input column.
    pub mean: Vec<f64>,
    /// Population standard deviation of each input column, or 1 for a column with zero
    /// variance (which then maps to 0 instead of dividing by zero).
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Computes the mean and standard deviation of every input column of `train`.
    pub fn fit(train: &Dataset) -> Self {
        let width = train.input_len();
        let count = train.len().max(1) as f64;
        let mut mean = vec![0.0; width];
        for row in train.inputs.chunks_exact(width) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        for m in &mut mean {
            *m /= count;
        }
        let mut variance = vec![0.0; width];
        for row in train.inputs.chunks_exact(width) {
            for ((v, &m), &x) in variance.iter_mut().zip(&mean).zip(row) {
                *v += (x - m) * (x - m);
            }
        }
        let scale = variance
            .iter()
            .map(|&v| {
                let std_dev = (v / count).sqrt();
                // Constant columns (up to rounding) carry no information; leave them centered
                // at zero instead of amplifying rounding noise.
                if std_dev > 1e-12 {
                    std_dev
                } else {
                    1.0
                }
            })
            .collect();
        Self { mean, scale }
    }

    /// Standardizes the inputs of `data` in place with the statistics from [`Standardizer::fit`].
    ///
    /// # Errors
    ///
    /// Returns [`DataError::StandardizerMismatch`] if `data` has another number of input
    /// columns than the fitted data set.
    pub fn apply(&self, data: &mut Dataset) -> Result<(), DataError> {
        if data.input_len() != self.mean.len() {
            return Err(DataError::StandardizerMismatch {
                fitted: self.mean.len(),
                found: data.input_len(),
            });
        }
        let width = self.mean.len();
        for row in data.inputs.chunks_exact_mut(width) {
            for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = (*x - m) / s;
            }
        }
        Ok(())
    }
}

/// One mini-batch: `len` consecutive rows of inputs and targets, converted to the model's
/// scalar type.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a, T> {
    /// `len` rows of inputs, row-major.
    pub inputs: &'a [T],
    /// `len` rows of targets, row-major.
    pub targets: &'a [T],
    /// Number of samples in the batch; the last batch of an epoch may be short.
    pub len: usize,
}

/// Iterates over a data set in shuffled mini-batches, reusing its buffers.
///
/// The buffers and the sample order are allocated once in [`MiniBatches::new`]; starting an
/// epoch and taking a batch do not allocate. It is a lending iterator (each batch borrows the
/// buffers), so it is used with `while let Some(batch) = batches.next_batch()`.
#[derive(Debug)]
pub struct MiniBatches<'d, T> {
    data: &'d Dataset,
    batch_size: usize,
    order: Vec<usize>,
    position: usize,
    rng: StdRng,
    inputs: Vec<T>,
    targets: Vec<T>,
}

impl<'d, T: Scalar> MiniBatches<'d, T> {
    /// Creates a batch iterator over `data` with batches of `batch_size` samples; the sample
    /// order of every epoch is drawn from a `StdRng` seeded with `seed`.
    ///
    /// # Errors
    ///
    /// Returns [`DataError::InvalidBatchSize`] if `batch_size` is 0.
    pub fn new(data: &'d Dataset, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::InvalidBatchSize);
        }
        let capacity = batch_size.min(data.len());
        Ok(Self {
            data,
            batch_size,
            order: (0..data.len()).collect(),
            position: data.len(),
            rng: StdRng::seed_from_u64(seed),
            inputs: vec![T::zero(); capacity * data.input_len()],
            targets: vec![T::zero(); capacity * data.target_len()],
        })
    }

    /// Starts a new epoch: shuffles the sample order and rewinds to the first batch.
    pub fn start_epoch(&mut self) {
        self.order.shuffle(&mut self.rng);
        self.position = 0;
    }

    /// Returns the next batch of the current epoch, or `None` when the epoch is over.
    pub fn next_batch(&mut self) -> Option<Batch<'_, T>> {
        if self.position >= self.order.len() {
            return None;
        }
        let end = (self.position + self.batch_size).min(self.order.len());
        let indices = &self.order[self.position..end];
        let input_width = self.data.input_len();
        let target_width = self.data.target_len();
        for (slot, &index) in indices.iter().enumerate() {
            let inputs = &mut self.inputs[slot * input_width..(slot + 1) * input_width];
            for (dst, &src) in inputs.iter_mut().zip(self.data.input(index)) {
                *dst = T::from_f64(src);
            }
            let targets = &mut self.targets[slot * target_width..(slot + 1) * target_width];
            for (dst, &src) in targets.iter_mut().zip(self.data.target(index)) {
                *dst = T::from_f64(src);
            }
        }
        let len = end - self.position;
        self.position = end;
        Some(Batch {
            inputs: &self.inputs[..len * input_width],
            targets: &self.targets[..len * target_width],
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn write_csv(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("create temp file");
        file.write_all(contents.as_bytes())
            .expect("write temp file");
        file
    }

    fn numeric(name: &str) -> TargetColumn {
        TargetColumn::Numeric(name.to_string())
    }

    fn one_hot(name: &str) -> TargetColumn {
        TargetColumn::OneHot(name.to_string())
    }

    fn small() -> Dataset {
        Dataset::new(
            vec!["a".into(), "b".into()],
            vec!["t".into()],
            (0..20).map(f64::from).collect(),
            (0..10).map(f64::from).collect(),
        )
        .expect("valid data set")
    }

    #[test]
    fn load_numeric_targets() {
        let file = write_csv("x1,y,x2,z\n1,2,3,4\n5,6,7,8\n");
        let data = load_csv(file.path(), &[numeric("y"), numeric("z")]).expect("load");
        assert_eq!(data.len(), 2);
        assert_eq!(data.input_names(), ["x1", "x2"]);
        assert_eq!(data.target_names(), ["y", "z"]);
        assert_eq!(data.inputs(), [1.0, 3.0, 5.0, 7.0]);
        assert_eq!(data.targets(), [2.0, 4.0, 6.0, 8.0]);
    }

    #[test]
    fn load_one_hot_and_numeric_targets() {
        let file = write_csv("x,kind,y\n1.5,cat,10\n2.5,dog,20\n3.5,cat,30\n");
        let data = load_csv(file.path(), &[one_hot("kind"), numeric("y")]).expect("load");
        assert_eq!(data.input_names(), ["x"]);
        assert_eq!(data.target_names(), ["kind=cat", "kind=dog", "y"]);
        assert_eq!(data.target(0), [1.0, 0.0, 10.0]);
        assert_eq!(data.target(1), [0.0, 1.0, 20.0]);
        assert_eq!(data.target(2), [1.0, 0.0, 30.0]);
        assert_eq!(data.class_columns().len(), 1);
        assert_eq!(data.class_columns()[0].classes, ["cat", "dog"]);
        assert_eq!(data.class_columns()[0].offset, 0);
    }

    #[test]
    fn malformed_value_names_row_and_column() {
        let file = write_csv("x1,x2,y\n1,2,3\n4,five,6\n");
        let error = load_csv(file.path(), &[numeric("y")]).expect_err("must fail");
        match &error {
            DataError::InvalidNumber {
                row, column, text, ..
            } => {
                // The header is row 1, so the second data row is row 3.
                assert_eq!(*row, 3);
                assert_eq!(column, "x2");
                assert_eq!(text, "five");
            }
            other => panic!("unexpected error {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("row 3"), "{message}");
        assert!(message.contains("\"x2\""), "{message}");
    }

    #[test]
    fn empty_and_non_finite_fields_rejected() {
        let file = write_csv("x,y\n,1\n");
        let error = load_csv(file.path(), &[numeric("y")]).expect_err("empty field");
        assert!(
            matches!(error, DataError::InvalidNumber { row: 2, .. }),
            "{error:?}"
        );
        let file = write_csv("x,y\n1,NaN\n");
        let error = load_csv(file.path(), &[numeric("y")]).expect_err("NaN target");
        assert!(
            matches!(error, DataError::InvalidNumber { row: 2, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn ragged_row_rejected() {
        let file = write_csv("x,y\n1,2\n3\n");
        let error = load_csv(file.path(), &[numeric("y")]).expect_err("must fail");
        assert!(matches!(error, DataError::Csv { .. }), "{error:?}");
    }

    #[test]
    fn missing_target_column() {
        let file = write_csv("x,y\n1,2\n");
        let error = load_csv(file.path(), &[numeric("label")]).expect_err("must fail");
        match error {
            DataError::MissingColumn {
                column, available, ..
            } => {
                assert_eq!(column, "label");
                assert_eq!(available, "x,y");
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn header_only_and_missing_file() {
        let file = write_csv("x,y\n");
        let error = load_csv(file.path(), &[numeric("y")]).expect_err("no rows");
        assert!(matches!(error, DataError::Empty { .. }), "{error:?}");
        let error = load_csv("/nonexistent/data.csv", &[numeric("y")]).expect_err("no file");
        assert!(matches!(error, DataError::Open { .. }), "{error:?}");
    }

    #[test]
    fn duplicate_column_and_no_inputs() {
        let file = write_csv("x,x,y\n1,2,3\n");
        let error = load_csv(file.path(), &[numeric("y")]).expect_err("duplicate");
        assert!(
            matches!(error, DataError::DuplicateColumn { .. }),
            "{error:?}"
        );
        let file = write_csv("y\n1\n");
        let error = load_csv(file.path(), &[numeric("y")]).expect_err("no inputs");
        assert!(matches!(error, DataError::NoInputs { .. }), "{error:?}");
        let error = load_csv(file.path(), &[]).expect_err("no targets");
        assert!(matches!(error, DataError::NoTargets), "{error:?}");
    }

    #[test]
    fn new_rejects_mismatched_rows() {
        let result = Dataset::new(
            vec!["a".into()],
            vec!["t".into()],
            vec![1.0, 2.0],
            vec![1.0],
        );
        assert!(
            matches!(result, Err(DataError::InvalidShape(_))),
            "{result:?}"
        );
    }

    #[test]
    fn split_sizes_and_determinism() {
        let data = small();
        let (train, test) = data.split(0.3, 5).expect("split");
        assert_eq!(train.len(), 7);
        assert_eq!(test.len(), 3);
        let (train_again, test_again) = data.split(0.3, 5).expect("split");
        assert_eq!(train, train_again);
        assert_eq!(test, test_again);
        // Every sample lands in exactly one part, rows intact.
        let mut targets: Vec<f64> = train
            .targets()
            .iter()
            .chain(test.targets())
            .copied()
            .collect();
        targets.sort_by(f64::total_cmp);
        assert_eq!(targets, (0..10).map(f64::from).collect::<Vec<_>>());
        for i in 0..train.len() {
            assert_eq!(train.input(i)[0], 2.0 * train.target(i)[0]);
        }
    }

    #[test]
    fn split_rejects_bad_fraction() {
        let data = small();
        assert!(matches!(
            data.split(1.5, 0),
            Err(DataError::InvalidFraction(_))
        ));
        assert!(matches!(
            data.split(f64::NAN, 0),
            Err(DataError::InvalidFraction(_))
        ));
    }

    #[test]
    fn shuffle_is_seeded_permutation() {
        let mut first = small();
        let mut second = small();
        first.shuffle(9);
        second.shuffle(9);
        assert_eq!(first, second);
        assert_ne!(first, small());
        let mut targets = first.targets().to_vec();
        targets.sort_by(f64::total_cmp);
        assert_eq!(targets, small().targets());
    }

    #[test]
    fn standardizer_fits_train_applies_to_test() {
        let train = Dataset::new(
            vec!["a".into(), "constant".into()],
            vec!["t".into()],
            vec![1.0, 5.0, 3.0, 5.0],
            vec![0.0, 0.0],
        )
        .expect("valid");
        let mut test = Dataset::new(
            vec!["a".into(), "constant".into()],
            vec!["t".into()],
            vec![5.0, 7.0],
            vec![0.0],
        )
        .expect("valid");
        let standardizer = Standardizer::fit(&train);
        assert_eq!(standardizer.mean, [2.0, 5.0]);
        assert_eq!(standardizer.scale, [1.0, 1.0]);
        let mut standardized = train.clone();
        standardizer.apply(&mut standardized).expect("same width");
        assert_eq!(standardized.inputs(), [-1.0, 0.0, 1.0, 0.0]);
        standardizer.apply(&mut test).expect("same width");
        assert_eq!(test.inputs(), [3.0, 2.0]);
    }

    #[test]
    fn standardizer_rejects_other_width() {
        let standardizer = Standardizer::fit(&small());
        let mut other =
            Dataset::new(vec!["a".into()], vec!["t".into()], vec![1.0], vec![1.0]).expect("valid");
        let result = standardizer.apply(&mut other);
        assert!(matches!(
            result,
            Err(DataError::StandardizerMismatch {
                fitted: 2,
                found: 1
            })
        ));
    }

    #[test]
    fn mini_batches_cover_epoch() {
        let data = small();
        let mut batches = MiniBatches::<f32>::new(&data, 4, 3).expect("batch size");
        for _ in 0..2 {
            batches.start_epoch();
            let mut sizes = Vec::new();
            let mut seen = Vec::new();
            while let Some(batch) = batches.next_batch() {
                sizes.push(batch.len);
                assert_eq!(batch.inputs.len(), batch.len * 2);
                for (row, &target) in batch.inputs.chunks(2).zip(batch.targets) {
                    assert_eq!(row[0], 2.0 * target);
                    seen.push(target);
                }
            }
            assert_eq!(sizes, [4, 4, 2]);
            seen.sort_by(f32::total_cmp);
            assert_eq!(seen, (0..10).map(|i| i as f32).collect::<Vec<_>>());
        }
        assert!(matches!(
            MiniBatches::<f32>::new(&data, 0, 3),
            Err(DataError::InvalidBatchSize)
        ));
    }
}
