/**
 * The SQL that only SQLite speaks, in one place. The PostgreSQL store gives its own versions of
 * these (jsonb operators and `= ANY($1)` instead of json_each); the queries around them are
 * dialect-neutral Drizzle. What else is SQLite's: `BEGIN IMMEDIATE` (`behavior: 'immediate'`,
 * where PostgreSQL takes `FOR UPDATE SKIP LOCKED` row locks) and better-sqlite3's synchronous
 * `.get()`/`.all()`/`.run()` inside `SqliteStore`'s operations.
 */
import { type Column, type SQL, sql } from 'drizzle-orm';

/** True when the JSON array in `column` contains every one of `tags`. */
export function jsonArrayContainsAll(column: Column, tags: readonly string[]): SQL {
  return sql.join(
    tags.map((tag) => sql`EXISTS (SELECT 1 FROM json_each(${column}) WHERE json_each.value = ${tag})`),
    sql` AND `,
  );
}

/**
 * `column IN` the values of a JSON array bound to `placeholder` at run time (pass
 * `JSON.stringify(ids)`), so one prepared statement serves lists of any length, where `inArray`
 * needs a statement per length.
 */
export function inJsonArray(column: Column, placeholder: string): SQL {
  return sql`${column} IN (SELECT value FROM json_each(${sql.placeholder(placeholder)}))`;
}

/** True when `column` contains `text`, without regard to (ASCII) case; `text` is matched literally, never as a pattern. */
export function containsText(column: Column, text: string): SQL {
  return sql`instr(lower(${column}), lower(${text})) > 0`;
}

/** The hour of an ISO-8601 UTC timestamp column as `YYYY-MM-DDTHH` (its first 13 characters). */
export function isoHour(column: Column): SQL<string> {
  return sql<string>`substr(${column}, 1, 13)`;
}
