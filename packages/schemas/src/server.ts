import { z } from 'zod';

/** What `health` answers while the server serves. */
export const ServerHealth = z.strictObject({ status: z.literal('ok') });
export type ServerHealth = z.infer<typeof ServerHealth>;

/** The server's release. */
export const ServerVersion = z.strictObject({ version: z.string() });
export type ServerVersion = z.infer<typeof ServerVersion>;
