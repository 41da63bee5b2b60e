//! The embedded store (redb) in the state dir: one table per kind of record, values as
//! JSON so records can grow fields without migrations.
//!
//! Access is typed: a record type names its table (and, in the shared `meta` table, its
//! key prefix) once, in its `Record` impl, so no call site can read or write a type in
//! another type's table: `store.list::<SandboxRecord>()`, `store.put(&id, &rec)`.

use anyhow::{anyhow, Context, Result};
use redb::{Database, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// A table of the store. Its constants are the only tables there are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Table(&'static str);

impl Table {
    pub const APPS: Table = Table("apps");
    pub const SANDBOXES: Table = Table("sandboxes");
    pub const IMAGES: Table = Table("images");
    pub const SECRETS: Table = Table("secrets");
    pub const VOLUMES: Table = Table("volumes");
    /// Small entries of several kinds, each kind under its own key prefix.
    pub const META: Table = Table("meta");
    const ALL: [Table; 6] = [
        Self::APPS,
        Self::SANDBOXES,
        Self::IMAGES,
        Self::SECRETS,
        Self::VOLUMES,
        Self::META,
    ];

    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.0)
    }
}

/// A kind of value kept in the store: where it lives, and how it is written (JSON).
pub trait Record: Serialize + DeserializeOwned {
    const TABLE: Table;
    /// Prepended to every key of this kind, so kinds can share a table (`meta`).
    const KEY_PREFIX: &'static str = "";
}

fn key_of<R: Record>(key: &str) -> String {
    format!("{}{key}", R::KEY_PREFIX)
}

/// One error message, cause included (callers show errors with `{}`, not `{:#}`).
fn decode<R: Record>(key: &str, bytes: &[u8]) -> Result<R> {
    serde_json::from_slice(bytes)
        .map_err(|e| anyhow!("reading {key} in the store's {} table: {e}", R::TABLE.0))
}

pub struct Store {
    db: Database,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)
            .with_context(|| format!("opening the state database {}", path.display()))?;
        let txn = db.begin_write()?;
        for t in Table::ALL {
            txn.open_table(t.definition())?;
        }
        txn.commit()?;
        Ok(Self { db })
    }

    pub fn put<R: Record>(&self, key: &str, value: &R) -> Result<()> {
        self.put_bytes(R::TABLE, &key_of::<R>(key), &serde_json::to_vec(value)?)
    }

    fn put_bytes(&self, table: Table, key: &str, bytes: &[u8]) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(table.definition())?.insert(key, bytes)?;
        txn.commit()?;
        Ok(())
    }

    pub fn delete<R: Record>(&self, key: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(R::TABLE.definition())?
            .remove(key_of::<R>(key).as_str())?;
        txn.commit()?;
        Ok(())
    }

    pub fn get<R: Record>(&self, key: &str) -> Result<Option<R>> {
        let key = key_of::<R>(key);
        let txn = self.db.begin_read()?;
        let t = txn.open_table(R::TABLE.definition())?;
        match t.get(key.as_str())? {
            Some(v) => Ok(Some(decode::<R>(&key, v.value())?)),
            None => Ok(None),
        }
    }

    /// Every record of this kind.
    pub fn list<R: Record>(&self) -> Result<Vec<R>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(R::TABLE.definition())?;
        let mut out = Vec::new();
        for entry in t.range(R::KEY_PREFIX..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(R::KEY_PREFIX) {
                break;
            }
            out.push(decode::<R>(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Write bytes that no record type would: for tests of how unreadable records are
    /// reported.
    #[cfg(test)]
    pub fn put_raw<R: Record>(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.put_bytes(R::TABLE, &key_of::<R>(key), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct App {
        name: String,
    }
    impl Record for App {
        const TABLE: Table = Table::APPS;
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(transparent)]
    struct Tag(String);
    impl Record for Tag {
        const TABLE: Table = Table::META;
        const KEY_PREFIX: &'static str = "tag:";
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(transparent)]
    struct Count(u32);
    impl Record for Count {
        const TABLE: Table = Table::META;
        const KEY_PREFIX: &'static str = "count:";
    }

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let s = Store::open(&path).unwrap();
            s.put("ap-1", &App { name: "x".into() }).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.get::<App>("ap-1").unwrap().unwrap().name, "x");
        assert_eq!(s.list::<App>().unwrap().len(), 1);
        assert!(s.get::<App>("ap-2").unwrap().is_none());
        s.delete::<App>("ap-1").unwrap();
        assert!(s.list::<App>().unwrap().is_empty());
    }

    #[test]
    fn kinds_that_share_a_table_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("state.redb")).unwrap();
        s.put("a", &Tag("im-1".into())).unwrap();
        s.put("b", &Tag("im-2".into())).unwrap();
        s.put("a", &Count(7)).unwrap();
        // the same key, two kinds: two entries
        assert_eq!(s.get::<Tag>("a").unwrap(), Some(Tag("im-1".into())));
        assert_eq!(s.get::<Count>("a").unwrap(), Some(Count(7)));
        // a list of one kind never reads the other's entries (a Count is no Tag)
        assert_eq!(s.list::<Tag>().unwrap().len(), 2);
        assert_eq!(s.list::<Count>().unwrap(), vec![Count(7)]);
    }

    #[test]
    fn an_unreadable_record_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("state.redb")).unwrap();
        s.put_raw::<App>("ap-1", b"not json").unwrap();
        // shown with `{}`, as `state::internal` does
        let e = s.get::<App>("ap-1").unwrap_err().to_string();
        assert!(
            e.contains("ap-1") && e.contains("apps") && e.contains("expected"),
            "{e}"
        );
        let e = s.list::<App>().unwrap_err().to_string();
        assert!(
            e.contains("ap-1") && e.contains("apps") && e.contains("expected"),
            "{e}"
        );
    }
}
