import { z } from 'zod';
import { FlowName, Id, Tag, Timestamp } from './names.js';

/** A flow: the named function deployments run. */
export const Flow = z.strictObject({
  id: Id,
  name: z.string(),
  tags: z.array(z.string()),
  created: Timestamp,
});
export type Flow = z.infer<typeof Flow>;

/** Create a flow, or read it when one with this name exists. */
export const FlowCreate = z.strictObject({
  name: FlowName,
  tags: z.array(Tag).max(50).default([]),
});
export type FlowCreate = z.input<typeof FlowCreate>;
