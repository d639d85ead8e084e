//! The `mlp` command line: `mlp derive` prints gradients, `mlp check` runs the semantic checks
//! and gives every claim and derivation step a verdict, `mlp codegen` prints the Rust code that
//! `#[derive_mlp]` generates.
//!
//! Exit status: 0 on success, 1 when the model has errors or a claim or step is not equal, 2
//! when the input cannot be read.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mlp::symbolic::Format;

#[derive(Parser)]
#[command(
    name = "mlp",
    version,
    about = "Derive and check the gradients of multi-layer perceptrons"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the gradient of the loss with respect to every parameter.
    Derive(DeriveArgs),
    /// Run the semantic checks, then check every claim and derivation step.
    Check(CheckArgs),
    /// Print the Rust code that `#[derive_mlp]` generates for the model: a struct with one
    /// field per parameter, its tape and gradients, and its `mlp_runtime::Model` impl.
    Codegen(CodegenArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The model file: DSL (`.mlp`) or a Markdown note with LaTeX display math (`.md`).
    file: PathBuf,
    /// Output on stdout: verdicts for people, or one JSON object for tools.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    format: CheckFormat,
    /// Also write a self-contained HTML page with every step's verdict, the math as MathML.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    Human,
    Json,
}

#[derive(clap::Args)]
struct CodegenArgs {
    /// The model file (`.mlp`).
    file: PathBuf,
    /// Name of the generated struct.
    #[arg(long, default_value = "Net")]
    name: String,
    /// Scalar type of the parameters.
    #[arg(long, value_enum, default_value_t = ScalarArg::F32)]
    scalar: ScalarArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScalarArg {
    F32,
    F64,
}

#[derive(clap::Args)]
struct DeriveArgs {
    /// The model file (`.mlp`).
    file: PathBuf,
    /// Print only the gradient with respect to this parameter.
    #[arg(long, value_name = "PARAM")]
    wrt: Option<String>,
    /// Notation of the output.
    #[arg(long, value_enum, default_value_t = OutputFormat::Unicode)]
    format: OutputFormat,
    /// Print the steps: chain rule, local derivatives with deltas, contraction, substitution.
    #[arg(long, conflicts_with_all = ["adjoints", "emit"])]
    steps: bool,
    /// Print the backprop recurrence: each adjoint, then each gradient in terms of them.
    #[arg(long, conflicts_with = "emit")]
    adjoints: bool,
    /// Print code instead of formulas: every gradient, so `--wrt` does not apply.
    #[arg(long, value_enum, conflicts_with = "wrt")]
    emit: Option<Emit>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Unicode,
    Latex,
    Ascii,
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// A Python module with `forward` and `gradients`, written with numpy einsum.
    Numpy,
}

/// Stack size of the thread that does the work. The parser bounds nesting, but a model's
/// expressions are still walked recursively, and deep models nest one level per layer.
const WORKER_STACK_BYTES: usize = 256 * 1024 * 1024;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let worker = std::thread::Builder::new()
        .stack_size(WORKER_STACK_BYTES)
        .spawn(move || match cli.command {
            Command::Derive(args) => derive(&args),
            Command::Check(args) => check(&args),
            Command::Codegen(args) => codegen(&args),
        });
    let result = match worker.map(|handle| handle.join()) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(Failure {
            code: 101,
            message: "error: internal error; please report it with the input file\n".into(),
        }),
        Err(error) => Err(Failure {
            code: 2,
            message: format!("error: cannot start a worker thread: {error}\n"),
        }),
    };
    match result {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (as in `mlp derive f | head`) is not an error.
            let _ = stdout.write_all(output.as_bytes());
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprint!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

struct Failure {
    code: u8,
    message: String,
}

fn read_source(path: &Path) -> Result<String, Failure> {
    let bytes = std::fs::read(path).map_err(|error| Failure {
        code: 2,
        message: format!("error: cannot read `{}`: {error}\n", path.display()),
    })?;
    String::from_utf8(bytes).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        let source = String::from_utf8_lossy(error.as_bytes());
        let (line, column) = mlp::grammar::line_column(&source, at);
        Failure {
            code: 2,
            message: format!(
                "error: `{}` is not valid UTF-8: invalid byte at line {line}, column {column} (byte {at})\n  help: save the file as UTF-8\n",
                path.display()
            ),
        }
    })
}

fn render_diagnostics(
    path: &Path,
    source: &str,
    diagnostics: &[mlp::grammar::Diagnostic],
) -> String {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    mlp::diagnostics::render(&path.display().to_string(), source, diagnostics, color)
}

fn derive(args: &DeriveArgs) -> Result<String, Failure> {
    if mlp::verdicts::SourceKind::from_path(&args.file) == mlp::verdicts::SourceKind::Markdown {
        return Err(Failure {
            code: 2,
            message: format!(
                "error: `{}` is a Markdown file; `mlp derive` reads model files (`.mlp`)\n  help: to check the derivations in a note, run `mlp check {}`\n",
                args.file.display(),
                args.file.display()
            ),
        });
    }
    let source = read_source(&args.file)?;
    let report = match mlp::load(&source) {
        Ok(report) => report,
        Err(mlp::LoadError::Invalid(diagnostics)) => {
            return Err(Failure {
                code: 1,
                message: render_diagnostics(&args.file, &source, &diagnostics),
            });
        }
    };
    if !report.warnings.is_empty() {
        eprint!(
            "{}",
            render_diagnostics(&args.file, &source, &report.warnings)
        );
    }
    let format = match args.format {
        OutputFormat::Unicode => Format::Unicode,
        OutputFormat::Latex => Format::Latex,
        OutputFormat::Ascii => Format::Ascii,
    };
    if let Some(param) = &args.wrt {
        if report.derivation.gradient(param).is_none() {
            let params: Vec<String> = report
                .derivation
                .model
                .params()
                .map(|p| format!("`{}`", p.name))
                .collect();
            return Err(Failure {
                code: 1,
                message: format!("error: `{param}` is not a parameter of the model\n  help: the parameters are {}\n", params.join(", ")),
            });
        }
    }
    let keep = |name: &str| args.wrt.as_deref().is_none_or(|wrt| wrt == name);
    if let Some(Emit::Numpy) = args.emit {
        let source_name = args.file.display().to_string();
        return mlp::symbolic::codegen::numpy::emit(&report.derivation, &source_name).map_err(
            |error| Failure {
                code: 1,
                message: format!("error: cannot emit numpy code: {error}\n"),
            },
        );
    }
    let mut out = String::new();
    if args.steps {
        out = report.render_steps(format);
    } else if args.adjoints {
        for adjoint in report.adjoints() {
            out.push_str(&format!("{}\n", adjoint.format(format)));
        }
        for gradient in report
            .gradients()
            .filter(|g| keep(&g.derivative().wrt.name))
        {
            out.push_str(&format!("{}\n", gradient.recurrence().format(format)));
        }
    } else {
        for gradient in report
            .gradients()
            .filter(|g| keep(&g.derivative().wrt.name))
        {
            out.push_str(&format!("{}\n", gradient.format(format)));
        }
    }
    Ok(out)
}

fn check(args: &CheckArgs) -> Result<String, Failure> {
    let path = &args.file;
    let source = read_source(path)?;
    let kind = mlp::verdicts::SourceKind::from_path(path);
    let name = path.display().to_string();
    let report = mlp::verdicts::check_source(&name, &source, kind);
    if let Some(html) = &args.report {
        std::fs::write(html, mlp::html::render(&report)).map_err(|error| Failure {
            code: 2,
            message: format!("error: cannot write `{}`: {error}\n", html.display()),
        })?;
    }
    let output = match args.format {
        CheckFormat::Json => {
            let mut json = serde_json::to_string_pretty(&report).map_err(|error| Failure {
                code: 101,
                message: format!("error: cannot write JSON: {error}\n"),
            })?;
            json.push('\n');
            json
        }
        CheckFormat::Human => {
            eprint!(
                "{}",
                render_diagnostics(path, &source, &report.raw_diagnostics)
            );
            report.render_verdicts()
        }
    };
    if report.all_equal() {
        Ok(output)
    } else {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(output.as_bytes());
        Err(Failure {
            code: 1,
            message: String::new(),
        })
    }
}

fn codegen(args: &CodegenArgs) -> Result<String, Failure> {
    use mlp::symbolic::codegen::rust::{
        emit_impl, emit_struct, function_key, required_functions, RustTarget, ScalarType,
    };
    let source = read_source(&args.file)?;
    let report = match mlp::load(&source) {
        Ok(report) => report,
        Err(mlp::LoadError::Invalid(diagnostics)) => {
            return Err(Failure {
                code: 1,
                message: render_diagnostics(&args.file, &source, &diagnostics),
            });
        }
    };
    let derivation = &report.derivation;
    // Dimensions without a size in the model become const generics of the struct.
    let open_dims: Vec<String> = derivation
        .model
        .dims
        .iter()
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| name.clone())
        .collect();
    let target = RustTarget {
        name: args.name.clone(),
        visibility: "pub".into(),
        const_generics: open_dims.clone(),
        scalar: match args.scalar {
            ScalarArg::F32 => ScalarType::F32,
            ScalarArg::F64 => ScalarType::F64,
        },
        dims: open_dims.iter().map(|d| (d.clone(), d.clone())).collect(),
        output: None,
        // Abstract functions are called by their `fns(...)` key, which the user defines.
        functions: required_functions(derivation)
            .into_iter()
            .map(|(name, order)| {
                let key = function_key(&name, order);
                ((name, order), key)
            })
            .collect(),
        runtime: "::mlp_runtime".into(),
    };
    let fail = |error: mlp::symbolic::codegen::rust::RustEmitError| Failure {
        code: 1,
        message: format!("error: cannot emit Rust code: {error}\n"),
    };
    let mut code = emit_struct(derivation, &target).map_err(fail)?;
    code.push_str(&emit_impl(derivation, &target).map_err(fail)?);
    let file = syn::parse_file(&code).map_err(|error| Failure {
        code: 101,
        message: format!("error: internal error: the generated code does not parse: {error}\n"),
    })?;
    let mut out = format!(
        "// Generated by `mlp codegen {}`; `#[derive_mlp]` generates the same impl.\n\n",
        args.file.display()
    );
    out.push_str(&prettyplease::unparse(&file));
    Ok(out)
}
