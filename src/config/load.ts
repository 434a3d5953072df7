import { readFile } from 'node:fs/promises';
import { parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { clipEcho } from './bounds.js';
import { configSchema, type ScalerConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Reads a YAML configuration file into a plain object (not yet validated). */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read configuration file ${path}: ${(error as Error).message}`);
  }
  const document = parseDocument(text);
  const problem = document.errors[0];
  if (problem) throw new ConfigError(`configuration file ${path} is not valid YAML: ${problem.message}`);
  // YAML reads 1e400 and .inf as Infinity and 0x4e21 as 20001: numbers not written in plain decimal
  // stay the text that was written, so that validation refuses them showing it.
  visit(document, {
    Scalar(_key, node) {
      if (typeof node.value !== 'number' || typeof node.source !== 'string') return;
      if (!Number.isFinite(node.value) || !DECIMAL.test(node.source.trim())) node.value = node.source;
    },
  });
  const parsed: unknown = document.toJS();
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`configuration file ${path} must hold a mapping of keys, not ${Array.isArray(parsed) ? 'a list' : typeof parsed}`);
  }
  return parsed as Record<string, unknown>;
}

/** Validates raw configuration; the error names every offending key, its value and what is accepted. */
export function validateConfig(raw: unknown): ScalerConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(`invalid configuration:\n${formatIssues(result.error.issues, raw)}`);
}

function formatIssues(issues: readonly z.core.$ZodIssue[], raw: unknown): string {
  return issues
    .map((issue) => {
      const path = issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '');
      const value = valueAt(raw, issue.path);
      const shown = value === undefined ? '' : ` (got ${showValue(value)})`;
      const message = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.map((k) => `'${clipEcho(k)}'`).join(', ')}` : issue.message;
      return `  - ${path || '(top level)'}: ${message}${issue.code === 'unrecognized_keys' ? '' : shown}`;
    })
    .join('\n');
}

/** A value as written (JSON would show Infinity and NaN as null), cut as every echo is. */
function showValue(value: unknown): string {
  return clipEcho(typeof value === 'number' && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value)));
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return typeof node === 'object' && node !== null ? undefined : node;
}

/** Deep-merges `override` into `base`; arrays and scalars replace, objects merge. */
export function mergeConfig(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
