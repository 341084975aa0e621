//! `Column<T>`: one flat array, either owned in RAM or memory-mapped from an array file.
//!
//! The same query code serves [`super::MemStore`] (owned) and [`super::MmapStore`]
//! (mapped): both hand out `&[T]`. A mapped column views the bytes after the
//! 64-byte header in place; the map is page-aligned, so the elements are 8-byte
//! aligned and `bytemuck` can reinterpret them without copying.

use std::fs::File;
use std::marker::PhantomData;
use std::path::Path;

use memmap2::Mmap;

use crate::store::StoreError;
use crate::store::format::{ArrayMeta, Element, HEADER_LEN, check_dtype, check_header};

pub(crate) enum Column<T: Element> {
    Owned(Vec<T>),
    Mapped(Mapped<T>),
}

/// A mapped array file whose header and size were checked against meta.json.
pub(crate) struct Mapped<T> {
    map: Mmap,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Element> Column<T> {
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match self {
            Column::Owned(v) => v,
            Column::Mapped(m) => m.as_slice(),
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
}

impl<T: Element> Default for Column<T> {
    fn default() -> Self {
        Column::Owned(Vec::new())
    }
}

impl<T: Element> Mapped<T> {
    /// Map `dir/am.file` and check magic, version, dtype, count and size. Reads only
    /// the header page; the data stays on disk until touched.
    pub fn open(dir: &Path, am: &ArrayMeta) -> Result<Self, StoreError> {
        let path = dir.join(&am.file);
        check_dtype::<T>(&path, am)?;
        let file = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let file_len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        if file_len < HEADER_LEN as u64 {
            return Err(StoreError::SizeMismatch { path, expected: am.file_bytes(), actual: file_len });
        }
        // SAFETY: the map is read-only and we never hand out a slice longer than the
        // size checked below. As with any mmap, another process truncating the file
        // while it is mapped would fault; graph directories are written once via a
        // temporary directory and replaced by rename, never truncated in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| StoreError::io(&path, e))?;
        check_header(&path, &map, map.len() as u64, am)?;
        let len = usize::try_from(am.len).map_err(|_| StoreError::LengthMismatch {
            path: path.clone(),
            expected: usize::MAX as u64,
            found: am.len,
        })?;
        let m = Mapped { map, len, _t: PhantomData };
        // Fails only if the map were not 8-byte aligned; check once here so that
        // `as_slice` cannot fail later.
        bytemuck::try_cast_slice::<u8, T>(m.data_bytes()).map_err(|e| StoreError::CorruptArray {
            path,
            reason: format!("cannot view the data as {}: {e}", T::DTYPE.name()),
        })?;
        Ok(m)
    }

    fn data_bytes(&self) -> &[u8] {
        &self.map[HEADER_LEN..HEADER_LEN + self.len * std::mem::size_of::<T>()]
    }

    #[inline]
    pub fn as_slice(&self) -> &[T] {
        bytemuck::cast_slice(self.data_bytes())
    }
}
