/**
 * The SQL that only SQLite speaks. The PostgreSQL store gives its own versions of these (jsonb
 * operators instead of json_each); everything else is dialect-neutral Drizzle.
 */
import { type Column, type SQL, sql } from 'drizzle-orm';

/** True when the JSON array in `column` contains every one of `tags`. */
export function jsonArrayContainsAll(column: Column, tags: readonly string[]): SQL {
  return sql.join(
    tags.map((tag) => sql`EXISTS (SELECT 1 FROM json_each(${column}) WHERE json_each.value = ${tag})`),
    sql` AND `,
  );
}
