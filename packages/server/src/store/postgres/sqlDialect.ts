/**
 * PostgreSQL's versions of the SQL that only SQLite speaks (../sqlDialect.ts): jsonb containment
 * and `= ANY` over a bound array instead of json_each.
 */
import { type Column, type SQL, sql } from 'drizzle-orm';

/** True when the jsonb array in `column` contains every one of `tags`. */
export function jsonArrayContainsAll(column: Column, tags: readonly string[]): SQL {
  return sql`${column} @> ${JSON.stringify(tags)}::jsonb`;
}

/**
 * `column` equals one of `values`, bound as one array parameter: one statement text serves lists
 * of any length (Drizzle's `inArray` writes a placeholder per value). `sql.param` keeps the array
 * whole; a bare array in a `sql` template is spread into a list.
 */
export function inList(column: Column, values: readonly string[]): SQL {
  return sql`${column} = ANY(${textArray(values)})`;
}

/** `values` bound as one `text[]` parameter. */
export function textArray(values: readonly string[]): SQL {
  return sql`${sql.param(values)}::text[]`;
}

/** True when `column` contains `text`, without regard to case; `text` is matched literally, never as a pattern. */
export function containsText(column: Column, text: string): SQL {
  return sql`strpos(lower(${column}), lower(${text})) > 0`;
}
