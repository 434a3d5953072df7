/** The `profiles` section of the configuration: name → Dynamo profiling output (see profiles.ts). */
import { z } from 'zod';

export const profileRefSchema = z.union([
  z.strictObject({ dir: z.string().min(1, 'must name a Dynamo profiling output directory') }),
  z.strictObject({ prefill: z.string().min(1, 'must name the prefill npz or JSON file'), decode: z.string().min(1, 'must name the decode npz or JSON file') }),
]);
export const profilesSchema = z.record(z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'profile names use letters, digits, ".", "_" and "-"'), profileRefSchema);
export type ProfileRef = z.output<typeof profileRefSchema>;
