//! Atomic persistence of the catalog: write a temporary file, fsync it, rename it
//! over `catalog.json`, fsync the directory. A crash leaves either the old or the
//! new catalog, never a mix; a stale temporary file is ignored and overwritten.

use super::{CatalogError, CatalogSnapshot};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

pub(super) const FILE_NAME: &str = "catalog.json";
const TMP_NAME: &str = "catalog.json.tmp";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CatalogError + '_ {
    move |source| CatalogError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(super) fn load(path: &Path) -> Result<Option<CatalogSnapshot>, CatalogError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let stored: super::schema::StoredCatalog =
        serde_json::from_slice(&bytes).map_err(|e| CatalogError::Corrupt {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    CatalogSnapshot::from_stored(stored)
        .map(Some)
        .map_err(|message| CatalogError::Corrupt {
            path: path.to_owned(),
            message,
        })
}

pub(super) fn store(path: &Path, snapshot: &CatalogSnapshot) -> Result<(), CatalogError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(TMP_NAME);
    let bytes =
        serde_json::to_vec_pretty(&snapshot.to_stored()).map_err(|e| CatalogError::Corrupt {
            path: path.to_owned(),
            message: format!("cannot encode: {e}"),
        })?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(&bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}
