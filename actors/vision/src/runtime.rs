//! ONNX Runtime set-up: loading the native library once, checking every model file against
//! `models/manifest.toml` (SHA-256) at start-up, and building sessions for the workers.
//!
//! Nothing here downloads anything: `models/setup.sh` puts the library and the models in
//! the models directory beforehand. A missing or wrong file is a [`ModelError`] naming it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use ort::environment::Environment;
use ort::session::Session;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The manifest, compiled in: the binary knows which files (and which bytes) it needs.
pub const MANIFEST: &str = include_str!("../../../models/manifest.toml");

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "model file {path} is missing: run `bash models/setup.sh` (or set inference.models_dir)"
    )]
    Missing { path: PathBuf },
    #[error("model file {path} has SHA-256 {actual}, expected {expected} (models/manifest.toml): run `bash models/setup.sh` again")]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot load the ONNX Runtime library {path}: {message}")]
    Library { path: PathBuf, message: String },
    #[error("model {name} ({path}) failed to load in ONNX Runtime: {message}")]
    Session {
        name: String,
        path: PathBuf,
        message: String,
    },
    #[error("models/manifest.toml has no entry named {0}")]
    Unknown(String),
    #[error("models/manifest.toml is invalid: {0}")]
    Manifest(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    model: Vec<ManifestEntry>,
}

pub fn manifest() -> Result<Vec<ManifestEntry>, ModelError> {
    toml::from_str::<ManifestFile>(MANIFEST)
        .map(|m| m.model)
        .map_err(|e| ModelError::Manifest(e.to_string()))
}

/// The default models directory: `$VKYC_MODELS_DIR`, else `~/.cache/vkyc/models` (where
/// `models/setup.sh` puts them).
pub fn default_models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VKYC_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/vkyc/models")
}

pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::Missing {
            path: path.to_path_buf(),
        },
        _ => ModelError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| ModelError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// ONNX Runtime allows one environment per process: it is created by the first
/// [`Models::load`] and shared by every later one (several servers in one test process).
static ENV: std::sync::Mutex<Option<(PathBuf, Environment)>> = std::sync::Mutex::new(None);

fn environment(lib: &Path) -> Result<Environment, ModelError> {
    let mut slot = ENV.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((path, env)) = slot.as_ref() {
        if path != lib {
            return Err(ModelError::Library {
                path: lib.to_path_buf(),
                message: format!(
                    "ONNX Runtime is already loaded from {} in this process",
                    path.display()
                ),
            });
        }
        return Ok(env.clone());
    }
    let builder = ort::init_from(lib).map_err(|e| ModelError::Library {
        path: lib.to_path_buf(),
        message: e.to_string(),
    })?;
    let env = builder
        .with_name("vkyc")
        .with_telemetry(false)
        .build()
        .map_err(|e| ModelError::Library {
            path: lib.to_path_buf(),
            message: e.to_string(),
        })?;
    *slot = Some((lib.to_path_buf(), env.clone()));
    Ok(env)
}

/// The loaded runtime and the verified model files. Cheap to clone; every worker builds
/// its own sessions from it.
#[derive(Clone)]
pub struct Models {
    env: Environment,
    files: HashMap<String, PathBuf>,
    threads: usize,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("files", &self.files)
            .field("threads", &self.threads)
            .finish()
    }
}

impl Models {
    /// Checks every file of the manifest in `dir` (presence and SHA-256), loads the ONNX
    /// Runtime library from it and creates the environment. `extra` adds model files that are
    /// not in the manifest (a customer's own passive-liveness model), checked for presence only.
    pub fn load(
        dir: &Path,
        threads: usize,
        extra: &[(String, PathBuf)],
    ) -> Result<Self, ModelError> {
        let mut files = HashMap::new();
        let mut lib = None;
        for m in manifest()? {
            let path = dir.join(&m.file);
            let actual = sha256_file(&path)?;
            if !actual.eq_ignore_ascii_case(&m.sha256) {
                return Err(ModelError::Checksum {
                    path,
                    expected: m.sha256,
                    actual,
                });
            }
            if m.name == "onnxruntime" {
                lib = Some(path);
            } else {
                files.insert(m.name, path);
            }
        }
        for (name, path) in extra {
            if !path.is_file() {
                return Err(ModelError::Missing { path: path.clone() });
            }
            files.insert(name.clone(), path.clone());
        }
        let lib = lib.ok_or_else(|| ModelError::Unknown("onnxruntime".into()))?;
        let env = environment(&lib)?;
        Ok(Self {
            env,
            files,
            threads: threads.max(1),
        })
    }

    pub fn path(&self, name: &str) -> Result<&Path, ModelError> {
        self.files
            .get(name)
            .map(|p| p.as_path())
            .ok_or_else(|| ModelError::Unknown(name.to_string()))
    }

    /// A new session for the model `name` (loaded from disk, optimised, no spinning threads:
    /// several workers share two cores).
    pub fn session(&self, name: &str) -> Result<Session, ModelError> {
        let path = self.path(name)?.to_path_buf();
        let err = |e: String| ModelError::Session {
            name: name.to_string(),
            path: path.clone(),
            message: e,
        };
        Session::builder(&self.env)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(self.threads)
            .map_err(|e| err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| err(e.to_string()))?
            .with_intra_op_spinning(false)
            .map_err(|e| err(e.to_string()))?
            .commit_from_file(&path)
            .map_err(|e| err(e.to_string()))
    }
}
