/**
 * Where the SDK finds its server: `DROVER_API_URL` / `DROVER_API_KEY`, else the profile file
 * `$DROVER_HOME/profile.json` (written by `drover config set`), else the local default.
 * Environment variables win over the file, as in Prefect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describeIssues, droverErrorOf, toIssues } from '@drover/schemas';
import { z } from 'zod';

export const DEFAULT_API_URL = 'http://127.0.0.1:4200';

const HttpUrl = z.url({ protocol: /^https?$/ });

/** The servers' URLs in a setting: one, or several replicas separated by commas (tried in turn when one cannot be reached). */
function splitApiUrls(value: string): string[] {
  return value
    .split(',')
    .map((url) => url.trim().replace(/\/+$/, ''))
    .filter(Boolean);
}

const ApiUrls = z.string().superRefine((value, ctx) => {
  const urls = splitApiUrls(value);
  const bad = urls.find((url) => !HttpUrl.safeParse(url).success);
  if (urls.length === 0 || bad !== undefined) {
    const expected = 'expected an http(s) URL such as http://127.0.0.1:4200, or several separated by commas';
    ctx.addIssue({ code: 'custom', message: urls.length > 1 ? `"${bad}" is not an http(s) URL; ${expected}` : expected });
  }
});

/** The profile file: settings saved by `drover config set`. */
export const Profile = z.strictObject({
  'api.url': ApiUrls.optional(),
  'api.key': z.string().min(1).optional(),
});
export type Profile = z.infer<typeof Profile>;
export type ProfileKey = keyof Profile;

export function droverHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.DROVER_HOME || join(homedir(), '.drover');
}

export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(droverHome(env), 'profile.json');
}

/** The saved profile (empty when there is none); a broken file is an error naming it. */
export function readProfile(env: NodeJS.ProcessEnv = process.env): Profile {
  const file = profilePath(env);
  if (!existsSync(file)) return {};
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw droverErrorOf('VALIDATION_ERROR', `The profile ${file} is not valid JSON (${(error as Error).message}): fix or delete it`, { file });
  }
  const result = Profile.safeParse(json);
  if (!result.success) {
    throw droverErrorOf('VALIDATION_ERROR', `The profile ${file} is invalid: ${describeIssues(toIssues(result.error))}`, { file });
  }
  return result.data;
}

export interface ApiSettings {
  /** The server's URL, or several replicas' separated by commas (as DROVER_API_URL takes them). */
  readonly apiUrl: string;
  /** Each server's URL, in the order given. */
  readonly apiUrls: readonly string[];
  readonly apiKey: string | undefined;
}

/** The API URL and key in force: explicit options, then env, then the profile, then the default. */
export function apiSettings(options: { apiUrl?: string; apiKey?: string } = {}, env: NodeJS.ProcessEnv = process.env): ApiSettings {
  const profile = options.apiUrl && options.apiKey ? {} : readProfile(env);
  const apiUrl = options.apiUrl ?? (env.DROVER_API_URL || undefined) ?? profile['api.url'] ?? DEFAULT_API_URL;
  const parsed = ApiUrls.safeParse(apiUrl);
  if (!parsed.success) {
    const source = options.apiUrl ? 'apiUrl' : env.DROVER_API_URL ? 'DROVER_API_URL' : 'api.url in the profile';
    throw droverErrorOf('VALIDATION_ERROR', `Invalid ${source} "${apiUrl}": ${parsed.error.issues[0]?.message}`, { source });
  }
  const apiUrls = splitApiUrls(apiUrl);
  return { apiUrl: apiUrls.join(','), apiUrls, apiKey: options.apiKey ?? (env.DROVER_API_KEY || undefined) ?? profile['api.key'] };
}
