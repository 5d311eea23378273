// Prepared statements reused per connection. Sync applies thousands of rows
// in one request; preparing the same SQL for each row dominated the time.
// Only for statements used as prepared (no .pluck()/.raw(), which change a
// statement's mode for every later user).
import type Database from "better-sqlite3";

const caches = new WeakMap<Database.Database, Map<string, Database.Statement>>();

export function prepareCached(db: Database.Database, sql: string): Database.Statement {
  let cache = caches.get(db);
  if (!cache) {
    cache = new Map();
    caches.set(db, cache);
  }
  let statement = cache.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    cache.set(sql, statement);
  }
  return statement;
}
