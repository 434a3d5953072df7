/** The metadata keys of windowed signals (`window`, `quantile`, `tokens`) and their parsers. */
import { parseChoiceKey, parseDurationKey } from '../metadata-values.js';
import { MetadataError } from '../metadata-error.js';
import type { SignalParams } from '../types.js';

export const MIN_WINDOW_MS = 1000;
export const MAX_WINDOW_MS = 3_600_000;
export const MIN_QUANTILE = 0.5;
export const MAX_QUANTILE = 0.99;
export const DEFAULT_QUANTILE = 0.95;

export interface WindowParams {
  readonly windowMs: number;
}

export interface QuantileParams extends WindowParams {
  readonly quantile: number;
}

export type TokenKind = 'generation' | 'prompt' | 'total';

export interface TokenRateParams extends WindowParams {
  readonly tokens: TokenKind;
}

/** `window`: a duration between 1s and 1h (`30s`, `2m`, bare seconds; `500ms` is too short). */
export function parseWindow(values: ReadonlyMap<string, string>, defaultMs: number): number {
  return parseDurationKey(values, 'window', defaultMs, { minMs: MIN_WINDOW_MS, maxMs: MAX_WINDOW_MS });
}

export function parseQuantile(values: ReadonlyMap<string, string>): number {
  const text = values.get('quantile');
  if (text === undefined || text === '') return DEFAULT_QUANTILE;
  const q = Number(text);
  if (!Number.isFinite(q) || q < MIN_QUANTILE || q > MAX_QUANTILE) {
    throw new MetadataError('quantile', `'${text}' is not accepted; expected a number from ${MIN_QUANTILE} to ${MAX_QUANTILE} (default ${DEFAULT_QUANTILE})`);
  }
  return q;
}

const TOKEN_KINDS: readonly TokenKind[] = ['generation', 'prompt', 'total'];

export function parseTokens(values: ReadonlyMap<string, string>): TokenKind {
  return parseChoiceKey(values, 'tokens', TOKEN_KINDS, 'generation');
}

export function windowParams(defaultMs: number): SignalParams<WindowParams> {
  return {
    keys: ['window'],
    parse: (values) => ({ windowMs: parseWindow(values, defaultMs) }),
    key: (p) => `${p.windowMs}`,
    historyMs: (p) => p.windowMs,
  };
}

export function quantileParams(defaultMs: number): SignalParams<QuantileParams> {
  return {
    keys: ['window', 'quantile'],
    parse: (values) => ({ windowMs: parseWindow(values, defaultMs), quantile: parseQuantile(values) }),
    key: (p) => `${p.windowMs}|${p.quantile}`,
    historyMs: (p) => p.windowMs,
  };
}

export function tokenRateParams(defaultMs: number): SignalParams<TokenRateParams> {
  return {
    keys: ['window', 'tokens'],
    parse: (values) => ({ windowMs: parseWindow(values, defaultMs), tokens: parseTokens(values) }),
    key: (p) => `${p.windowMs}|${p.tokens}`,
    historyMs: (p) => p.windowMs,
  };
}
