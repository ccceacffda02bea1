/**
 * PostgreSQL's versions of the SQL that only SQLite speaks (../sqlDialect.ts): jsonb containment
 * and `= ANY` over a bound array instead of json_each; and whole rows as one JSON parameter.
 */
import { type Column, getTableColumns, type SQL, sql, type Table } from 'drizzle-orm';

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

/** A table's column names by the row fields Drizzle names them with (`stateType` → `state_type`). */
export function columnNames(table: Table): ReadonlyMap<string, string> {
  return new Map(Object.entries(getTableColumns(table)).map(([field, column]) => [field, column.name]));
}

/**
 * `row` (or some of its fields) as a JSON object keyed by column name, which
 * `json_populate_record(NULL::table, $1::json)` turns into a row of the table's own column types:
 * one parameter for a whole row, so a statement's text does not depend on its values.
 */
export function rowJson(columns: ReadonlyMap<string, string>, row: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(row)) {
    const column = columns.get(field);
    if (column === undefined) throw new Error(`No column for field ${field}`);
    json[column] = value;
  }
  return json;
}
