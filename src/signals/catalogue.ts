import { CUSTOM_SIGNALS } from './custom.js';
import { GAUGE_SIGNALS } from './gauge-signals.js';
import { policySignals } from './policy-signals.js';
import type { SignalDefinition } from './types.js';
import { WINDOWED_SIGNALS } from './windowed.js';

export type { Contribution, SignalDefinition, SignalKind, SignalOutcome } from './types.js';

/** Every signal a trigger's `metric` can name (SPEC §4). */
const SIGNALS: readonly SignalDefinition[] = [...GAUGE_SIGNALS, ...WINDOWED_SIGNALS, ...CUSTOM_SIGNALS, ...policySignals(findSignal, signalNames)];

const BY_NAME = new Map(SIGNALS.map((s) => [s.name, s]));

export function findSignal(name: string): SignalDefinition | undefined {
  return BY_NAME.get(name.toLowerCase());
}

export function signalNames(): string[] {
  return SIGNALS.map((s) => s.name);
}
