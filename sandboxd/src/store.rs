//! The embedded store (redb) in the state dir: one table per kind of record, values as
//! JSON so records can grow fields without migrations.

use anyhow::{Context, Result};
use redb::{Database, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

pub const APPS: &str = "apps";
pub const SANDBOXES: &str = "sandboxes";
pub const IMAGES: &str = "images";
pub const SECRETS: &str = "secrets";
pub const VOLUMES: &str = "volumes";
pub const META: &str = "meta";

pub struct Store {
    db: Database,
}

fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

impl Store {
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)
            .with_context(|| format!("opening the state database {}", path.display()))?;
        let txn = db.begin_write()?;
        for t in [APPS, SANDBOXES, IMAGES, SECRETS, VOLUMES, META] {
            txn.open_table(table(t))?;
        }
        txn.commit()?;
        Ok(Self { db })
    }

    pub fn put<T: Serialize>(&self, kind: &str, id: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value)?;
        let txn = self.db.begin_write()?;
        txn.open_table(table(kind))?.insert(id, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    pub fn delete(&self, kind: &str, id: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(table(kind))?.remove(id)?;
        txn.commit()?;
        Ok(())
    }

    pub fn get<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(table(kind))?;
        match t.get(id)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    pub fn list<T: DeserializeOwned>(&self, kind: &str) -> Result<Vec<T>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(table(kind))?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            let (_, v) = entry?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let s = Store::open(&path).unwrap();
            s.put(APPS, "ap-1", &serde_json::json!({"name": "x"}))
                .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let v: serde_json::Value = s.get(APPS, "ap-1").unwrap().unwrap();
        assert_eq!(v["name"], "x");
        assert_eq!(s.list::<serde_json::Value>(APPS).unwrap().len(), 1);
        assert!(s.get::<serde_json::Value>(APPS, "ap-2").unwrap().is_none());
    }
}
