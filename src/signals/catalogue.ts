import { CUSTOM_SIGNALS } from './custom.js';
import { GAUGE_SIGNALS } from './gauge-signals.js';
import { SATURATION_SIGNAL } from './saturation.js';
import type { SignalDefinition } from './types.js';
import { WINDOWED_SIGNALS } from './windowed/signals.js';

/** Every fleet value a trigger can name, and a composite policy can combine. */
export const FLEET_SIGNALS: readonly SignalDefinition[] = [...GAUGE_SIGNALS, ...WINDOWED_SIGNALS, ...CUSTOM_SIGNALS, SATURATION_SIGNAL];

const BY_NAME = new Map(FLEET_SIGNALS.map((s) => [s.name, s]));

export function findFleetSignal(name: string): SignalDefinition | undefined {
  return BY_NAME.get(name.toLowerCase());
}
