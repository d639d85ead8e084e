//! Checkpoints: saving and loading a model's parameters as JSON with names and shapes.
//!
//! The file is an object `{"format_version": 1, "params": [{"name", "shape", "values"}]}` with
//! the tensors in the model's visit order and values as `f64`, so an `f32` model round-trips
//! exactly and a checkpoint saved in one scalar type loads into the other.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::Model;
use crate::scalar::Scalar;

/// Version written into new checkpoints and the only one [`load`] accepts.
pub const FORMAT_VERSION: u32 = 1;

/// The serialized form of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version, [`FORMAT_VERSION`] for files written by this crate.
    pub format_version: u32,
    /// Parameter tensors in the model's visit order.
    pub params: Vec<CheckpointParam>,
}

/// One parameter tensor in a [`Checkpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointParam {
    /// Parameter name.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// Flat row-major values.
    pub values: Vec<f64>,
}

/// An error while saving or loading a checkpoint.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// Reading, writing or renaming a file failed.
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        /// Failed operation, for example "write".
        action: &'static str,
        /// File involved.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not valid checkpoint JSON.
    #[error("invalid checkpoint {}: {source}", path.display())]
    Parse {
        /// Checkpoint file.
        path: PathBuf,
        /// Underlying JSON error, with line and column.
        source: serde_json::Error,
    },
    /// The checkpoint was written in a format version this crate cannot read.
    #[error(
        "checkpoint {} has format version {found}, but this version of mlp-runtime reads only \
         version {FORMAT_VERSION}",
        path.display()
    )]
    UnsupportedVersion {
        /// Checkpoint file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
    },
    /// The checkpoint and the model have different numbers of parameter tensors.
    #[error(
        "checkpoint {} has {found} parameter tensors ({found_names}) but the model has \
         {expected} ({expected_names})",
        path.display()
    )]
    ParamCount {
        /// Checkpoint file.
        path: PathBuf,
        /// Tensors in the model.
        expected: usize,
        /// Tensors in the checkpoint.
        found: usize,
        /// Model parameter names, comma-separated.
        expected_names: String,
        /// Checkpoint parameter names, comma-separated.
        found_names: String,
    },
    /// A checkpoint tensor has another name than the model's tensor at the same position.
    #[error(
        "checkpoint {} has parameter {found:?} at position {position} where the model has \
         {expected:?}",
        path.display()
    )]
    NameMismatch {
        /// Checkpoint file.
        path: PathBuf,
        /// 0-based position in visit order.
        position: usize,
        /// Model parameter name.
        expected: String,
        /// Checkpoint parameter name.
        found: String,
    },
    /// A checkpoint tensor has another shape than the model's tensor of the same name.
    #[error(
        "parameter {name:?} has shape {checkpoint_shape:?} in checkpoint {} but shape \
         {model_shape:?} in the model",
        path.display()
    )]
    ShapeMismatch {
        /// Checkpoint file.
        path: PathBuf,
        /// Parameter name.
        name: String,
        /// Shape in the model.
        model_shape: Vec<usize>,
        /// Shape in the checkpoint.
        checkpoint_shape: Vec<usize>,
    },
    /// A checkpoint tensor's value count does not match its declared shape.
    #[error(
        "parameter {name:?} in checkpoint {} has {found} values but its shape {shape:?} needs \
         {expected}",
        path.display()
    )]
    ValueCount {
        /// Checkpoint file.
        path: PathBuf,
        /// Parameter name.
        name: String,
        /// Declared shape.
        shape: Vec<usize>,
        /// Entries the shape requires.
        expected: usize,
        /// Values present.
        found: usize,
    },
    /// A parameter is NaN or infinite, which JSON cannot represent.
    #[error("parameter {name:?} entry {index} is {value}; only finite parameters can be saved")]
    NonFinite {
        /// Parameter name.
        name: String,
        /// Flat index of the entry.
        index: usize,
        /// The value.
        value: f64,
    },
}

/// Returns the parameters of `model` as a [`Checkpoint`].
///
/// # Errors
///
/// Returns [`CheckpointError::NonFinite`] for the first NaN or infinite parameter entry.
pub fn to_checkpoint<M: Model>(model: &M) -> Result<Checkpoint, CheckpointError> {
    let mut params = Vec::new();
    let mut non_finite = None;
    model.visit_params(|info, values| {
        if non_finite.is_none() {
            if let Some(index) = values.iter().position(|v| !v.into_f64().is_finite()) {
                non_finite = Some(CheckpointError::NonFinite {
                    name: info.name.to_string(),
                    index,
                    value: values[index].into_f64(),
                });
            }
        }
        params.push(CheckpointParam {
            name: info.name.to_string(),
            shape: info.shape.to_vec(),
            values: values.iter().map(|v| v.into_f64()).collect(),
        });
    });
    match non_finite {
        Some(error) => Err(error),
        None => Ok(Checkpoint {
            format_version: FORMAT_VERSION,
            params,
        }),
    }
}

/// Saves the parameters of `model` to `path` as JSON.
///
/// The data goes to a temporary file in the same directory, is flushed to disk and then
/// renamed over `path`, so a crash leaves either the old file or the new one, never a partial
/// file. The rename is atomic on POSIX file systems.
///
/// # Errors
///
/// Returns [`CheckpointError::NonFinite`] if a parameter is NaN or infinite, and
/// [`CheckpointError::Io`] if the file cannot be written or renamed.
pub fn save<M: Model>(model: &M, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let checkpoint = to_checkpoint(model)?;
    let temporary = temporary_path(path);
    let result = write_json(&checkpoint, &temporary).and_then(|()| {
        fs::rename(&temporary, path).map_err(|source| CheckpointError::Io {
            action: "rename into place",
            path: path.to_path_buf(),
            source,
        })
    });
    match result {
        Ok(()) => sync_parent_directory(path),
        // Best effort: the temporary file may not exist if creating it failed.
        Err(_) => {
            let _ = fs::remove_file(&temporary);
        }
    }
    result
}

/// Returns a path in the directory of `path` for the file being written, named after it and
/// the process id so concurrent writers do not collide.
fn temporary_path(path: &Path) -> PathBuf {
    let file_name = path
        .file_name()
        .map_or_else(|| "checkpoint".into(), |name| name.to_string_lossy());
    path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()))
}

fn write_json(checkpoint: &Checkpoint, path: &Path) -> Result<(), CheckpointError> {
    let io_error = |action| {
        move |source| CheckpointError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let file = File::create(path).map_err(io_error("create"))?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer(&mut writer, checkpoint).map_err(|error| CheckpointError::Io {
        action: "write",
        path: path.to_path_buf(),
        source: error.into(),
    })?;
    writer.flush().map_err(io_error("write"))?;
    let file = writer
        .into_inner()
        .map_err(|error| io_error("write")(error.into_error()))?;
    file.sync_all().map_err(io_error("sync"))
}

/// Flushes the directory entry of a rename to disk, so the new name survives a power loss.
/// Failure is ignored, because some platforms cannot open a directory as a file and the file's
/// contents are already synced.
fn sync_parent_directory(path: &Path) {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(directory) = File::open(parent) {
        let _ = directory.sync_all();
    }
}

/// Reads a checkpoint file without checking it against a model.
///
/// # Errors
///
/// Returns [`CheckpointError::Io`] if the file cannot be opened and
/// [`CheckpointError::Parse`] if it is not checkpoint JSON.
pub fn read(path: impl AsRef<Path>) -> Result<Checkpoint, CheckpointError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| CheckpointError::Io {
        action: "open",
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_reader(BufReader::new(file)).map_err(|source| CheckpointError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads parameters saved by [`save`] from `path` into `model`.
///
/// The whole checkpoint is checked against the model before any parameter is written, so on
/// error the model is unchanged.
///
/// # Errors
///
/// Returns [`CheckpointError`] if the file cannot be read or parsed or has another format
/// version. It also returns one if the checkpoint differs from the model in the number, names
/// or shapes of its parameters, and then the error names the parameter and both shapes.
pub fn load<M: Model>(model: &mut M, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let checkpoint = read(path)?;
    validate(model, &checkpoint, path)?;
    let mut params = checkpoint.params.iter();
    model.visit_params_mut(|_, values| {
        // validate() guarantees one checkpoint tensor of equal length per model tensor.
        if let Some(param) = params.next() {
            for (value, &saved) in values.iter_mut().zip(&param.values) {
                *value = M::Scalar::from_f64(saved);
            }
        }
    });
    Ok(())
}

fn validate<M: Model>(
    model: &M,
    checkpoint: &Checkpoint,
    path: &Path,
) -> Result<(), CheckpointError> {
    if checkpoint.format_version != FORMAT_VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: checkpoint.format_version,
        });
    }
    let specs = model.param_specs();
    if specs.len() != checkpoint.params.len() {
        let join = |names: Vec<&str>| names.join(", ");
        return Err(CheckpointError::ParamCount {
            path: path.to_path_buf(),
            expected: specs.len(),
            found: checkpoint.params.len(),
            expected_names: join(specs.iter().map(|s| s.name).collect()),
            found_names: join(checkpoint.params.iter().map(|p| p.name.as_str()).collect()),
        });
    }
    for (position, (spec, param)) in specs.iter().zip(&checkpoint.params).enumerate() {
        if spec.name != param.name {
            return Err(CheckpointError::NameMismatch {
                path: path.to_path_buf(),
                position,
                expected: spec.name.to_string(),
                found: param.name.clone(),
            });
        }
        if spec.shape != param.shape {
            return Err(CheckpointError::ShapeMismatch {
                path: path.to_path_buf(),
                name: param.name.clone(),
                model_shape: spec.shape.clone(),
                checkpoint_shape: param.shape.clone(),
            });
        }
        if param.values.len() != spec.len() {
            return Err(CheckpointError::ValueCount {
                path: path.to_path_buf(),
                name: param.name.clone(),
                shape: param.shape.clone(),
                expected: spec.len(),
                found: param.values.len(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{initialize, Init};
    use crate::reference::TwoLayerMlp;

    type Small = TwoLayerMlp<f32, 3, 4, 2>;

    fn initialized() -> Small {
        let mut model = Small::default();
        initialize(&mut model, Init::HeNormal, 21);
        model.b2 = [0.1, -0.2];
        model
    }

    #[test]
    fn round_trip_restores_parameters() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.json");
        let model = initialized();
        save(&model, &path).expect("save");
        let mut loaded = Small::default();
        load(&mut loaded, &path).expect("load");
        assert_eq!(loaded, model);
    }

    #[test]
    fn f32_checkpoint_loads_into_f64_model() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.json");
        let model = initialized();
        save(&model, &path).expect("save");
        let mut wide = TwoLayerMlp::<f64, 3, 4, 2>::default();
        load(&mut wide, &path).expect("load");
        assert_eq!(wide.w1[1][2], f64::from(model.w1[1][2]));
    }

    #[test]
    fn save_replaces_file_without_leftovers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.json");
        fs::write(&path, "old contents").expect("write old file");
        save(&initialized(), &path).expect("save");
        let entries: Vec<_> = fs::read_dir(dir.path()).expect("list dir").collect();
        assert_eq!(entries.len(), 1, "temporary file left behind: {entries:?}");
        let checkpoint = read(&path).expect("read");
        assert_eq!(checkpoint.params.len(), 4);
        assert_eq!(checkpoint.params[0].name, "w1");
        assert_eq!(checkpoint.params[0].shape, [4, 3]);
    }

    #[test]
    fn save_into_missing_directory_fails() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing").join("model.json");
        let error = save(&initialized(), &path).expect_err("must fail");
        assert!(
            matches!(
                error,
                CheckpointError::Io {
                    action: "create",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn non_finite_parameter_not_saved() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.json");
        let mut model = initialized();
        model.b1[2] = f32::NAN;
        let error = save(&model, &path).expect_err("must fail");
        match error {
            CheckpointError::NonFinite { name, index, .. } => {
                assert_eq!(name, "b1");
                assert_eq!(index, 2);
            }
            other => panic!("unexpected error {other}"),
        }
        assert!(!path.exists());
    }

    #[test]
    fn shape_mismatch_names_parameter_and_shapes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.json");
        save(&initialized(), &path).expect("save");
        let mut other = TwoLayerMlp::<f32, 3, 5, 2>::default();
        let error = load(&mut other, &path).expect_err("must fail");
        match &error {
            CheckpointError::ShapeMismatch {
                name,
                model_shape,
                checkpoint_shape,
                ..
            } => {
                assert_eq!(name, "w1");
                assert_eq!(model_shape, &[5, 3]);
                assert_eq!(checkpoint_shape, &[4, 3]);
            }
            other => panic!("unexpected error {other}"),
        }
        let message = error.to_string();
        assert!(message.contains("\"w1\""), "{message}");
        assert!(
            message.contains("[4, 3]") && message.contains("[5, 3]"),
            "{message}"
        );
        assert_eq!(
            other,
            TwoLayerMlp::default(),
            "model changed by a failed load"
        );
    }

    #[test]
    fn renamed_parameter_rejected() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.json");
        let mut checkpoint = to_checkpoint(&initialized()).expect("finite");
        checkpoint.params[2].name = "w3".into();
        fs::write(
            &path,
            serde_json::to_string(&checkpoint).expect("serialize"),
        )
        .expect("write");
        let error = load(&mut Small::default(), &path).expect_err("must fail");
        assert!(
            matches!(&error, CheckpointError::NameMismatch { position: 2, expected, found, .. }
                if expected == "w2" && found == "w3"),
            "{error}"
        );
    }

    #[test]
    fn value_count_and_tensor_count_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.json");
        let mut checkpoint = to_checkpoint(&initialized()).expect("finite");
        checkpoint.params[1].values.pop();
        fs::write(
            &path,
            serde_json::to_string(&checkpoint).expect("serialize"),
        )
        .expect("write");
        let error = load(&mut Small::default(), &path).expect_err("must fail");
        assert!(
            matches!(
                error,
                CheckpointError::ValueCount {
                    expected: 4,
                    found: 3,
                    ..
                }
            ),
            "{error}"
        );

        checkpoint.params.truncate(3);
        fs::write(
            &path,
            serde_json::to_string(&checkpoint).expect("serialize"),
        )
        .expect("write");
        let error = load(&mut Small::default(), &path).expect_err("must fail");
        assert!(
            matches!(
                error,
                CheckpointError::ParamCount {
                    expected: 4,
                    found: 3,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn corrupt_and_future_files_rejected() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.json");
        fs::write(&path, "{\"format_version\": 1, \"params\": [").expect("write");
        let error = load(&mut Small::default(), &path).expect_err("truncated");
        assert!(matches!(error, CheckpointError::Parse { .. }), "{error}");

        fs::write(&path, "{\"format_version\": 2, \"params\": []}").expect("write");
        let error = load(&mut Small::default(), &path).expect_err("future version");
        assert!(
            matches!(error, CheckpointError::UnsupportedVersion { found: 2, .. }),
            "{error}"
        );

        let error =
            load(&mut Small::default(), dir.path().join("absent.json")).expect_err("absent");
        assert!(
            matches!(error, CheckpointError::Io { action: "open", .. }),
            "{error}"
        );
    }
}
