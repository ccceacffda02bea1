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

/** The profile file: settings saved by `drover config set`. */
export const Profile = z.strictObject({
  'api.url': z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as http://127.0.0.1:4200' }).optional(),
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
  readonly apiUrl: string;
  readonly apiKey: string | undefined;
}

/** The API URL and key in force: explicit options, then env, then the profile, then the default. */
export function apiSettings(options: { apiUrl?: string; apiKey?: string } = {}, env: NodeJS.ProcessEnv = process.env): ApiSettings {
  const profile = options.apiUrl && options.apiKey ? {} : readProfile(env);
  const apiUrl = options.apiUrl ?? (env.DROVER_API_URL || undefined) ?? profile['api.url'] ?? DEFAULT_API_URL;
  const parsed = Profile.shape['api.url'].safeParse(apiUrl);
  if (!parsed.success) {
    const source = options.apiUrl ? 'apiUrl' : env.DROVER_API_URL ? 'DROVER_API_URL' : 'api.url in the profile';
    throw droverErrorOf('VALIDATION_ERROR', `Invalid ${source} "${apiUrl}": expected an http(s) URL such as http://127.0.0.1:4200`, { source });
  }
  return { apiUrl: apiUrl.replace(/\/+$/, ''), apiKey: options.apiKey ?? (env.DROVER_API_KEY || undefined) ?? profile['api.key'] };
}
