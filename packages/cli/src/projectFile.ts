/**
 * Reads `drover.yaml` with the `Project` schema. Every problem names the file, the key path and
 * what to write instead, one per line: `drover.yaml: deployments.0.schedules.0.cron: Invalid cron
 * "0 25 * * *": hour must be 0-23`; YAML syntax errors give the line and column.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { type DroverError, droverErrorOf, PROJECT_FILE, Project } from '@drover/schemas';
import { explainIssues } from './explainIssues.js';

export interface ProjectFile {
  /** Absolute path of drover.yaml. */
  readonly path: string;
  /** The path as messages show it: relative to the working directory. */
  readonly shown: string;
  /** The folder entrypoints are relative to. */
  readonly root: string;
  readonly project: Project;
  /** Whether `pull` was written at the top and per deployment (an omitted `pull` gets the default step; `pull: []` means none). */
  readonly pullGiven: { readonly project: boolean; readonly deployments: readonly boolean[] };
}

/** The path of `file` as shown to the user. */
export function shownPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel === '' ? file : rel.startsWith('..') && rel.split('/').filter((p) => p === '..').length > 2 ? file : rel;
}

function invalid(shown: string, lines: readonly string[], path: string): DroverError {
  return droverErrorOf('VALIDATION_ERROR', lines.map((line) => `${shown}: ${line}`).join('\n'), { file: path, problems: lines });
}

/**
 * Replaces `{{ $NAME }}` in every string of `value` with the environment variable NAME, as
 * prefect.yaml does; the key paths of references to unset variables are collected in `unset`.
 */
function substituteEnv(value: unknown, env: Readonly<Record<string, string | undefined>>, path: string, unset: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\{\{\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (whole, name: string) => {
      const found = env[name];
      if (found === undefined) unset.push(`${path || '(top)'}: ${whole} names the environment variable ${name}, which is not set: set it, or write the value`);
      return found ?? whole;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, path ? `${path}.${i}` : String(i), unset));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substituteEnv(item, env, path ? `${path}.${key}` : key, unset)]));
  }
  return value;
}

/** The project in `root`'s drover.yaml (with `{{ $NAME }}` read from `env`), or undefined when there is none. */
export async function readProjectFile(root: string, cwd: string, env: Readonly<Record<string, string | undefined>> = {}): Promise<ProjectFile | undefined> {
  const path = join(root, PROJECT_FILE);
  if (!existsSync(path)) return undefined;
  const shown = shownPath(path, cwd);
  // Loaded here: only deploy reads YAML, and every command pays for what the CLI loads at start.
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(readFileSync(path, 'utf8'));
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((error) => {
      const where = error.linePos?.[0];
      const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      return where ? `line ${where.line}, column ${where.col}: ${message}` : message;
    });
    throw invalid(shown, lines, path);
  }
  const unset: string[] = [];
  const raw: unknown = substituteEnv(doc.toJS(), env, '', unset);
  if (unset.length > 0) throw invalid(shown, unset, path);
  if (raw === null || raw === undefined) {
    throw invalid(shown, ['the file is empty: it needs at least `name:` and `deployments:` (see `drover init`)'], path);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid(shown, [`expected a mapping with name, build, push, pull and deployments, not ${Array.isArray(raw) ? 'a list' : `a ${typeof raw}`}`], path);
  }
  const result = Project.safeParse(raw);
  if (!result.success) throw invalid(shown, explainIssues(result.error, Project, raw), path);
  const rawProject = raw as { pull?: unknown; deployments?: unknown };
  const rawDeployments = Array.isArray(rawProject.deployments) ? (rawProject.deployments as { pull?: unknown }[]) : [];
  return {
    path,
    shown,
    root: dirname(path),
    project: result.data,
    pullGiven: {
      project: rawProject.pull !== undefined && rawProject.pull !== null,
      deployments: rawDeployments.map((d) => d?.pull !== undefined && d?.pull !== null),
    },
  };
}
