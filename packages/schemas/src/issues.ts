import type { z } from 'zod';

/** A validation problem at a key path, as Drover reports it in errors. */
export interface Issue {
  readonly path: string;
  readonly message: string;
}

/** Flattens zod issues to `path: message` pairs; the path is dotted (`deployments.0.schedules.1.cron`). */
export function toIssues(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/** One line per issue: `path: message`, or the message alone at the root. */
export function describeIssues(issues: readonly Issue[]): string {
  return issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join('; ');
}
