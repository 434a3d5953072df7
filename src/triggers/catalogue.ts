import { FLEET_SIGNALS } from '../signals/catalogue.js';
import { useOf } from '../signals/evaluate.js';
import type { SignalDefinition, SignalUse } from '../signals/types.js';
import { DESIRED_REPLICAS } from '../policies/desired-replicas.js';

/** Everything a trigger's `metric` can name: the fleet signals and the replica-count policies. */
const SIGNALS: readonly SignalDefinition[] = [...FLEET_SIGNALS, DESIRED_REPLICAS];

const BY_NAME = new Map(SIGNALS.map((s) => [s.name, s]));

export function findSignal(name: string): SignalDefinition | undefined {
  return BY_NAME.get(name.toLowerCase());
}

export function signalNames(): string[] {
  return SIGNALS.map((s) => s.name);
}

let defaults: readonly SignalUse[] | undefined;

/**
 * Every signal that works without extra metadata or history, with its default parameters: what
 * `/metrics` and `/api/v1/pools/:name` show for each pool.
 */
export function defaultUses(): readonly SignalUse[] {
  defaults ??= SIGNALS.flatMap((signal) => {
    let use: SignalUse;
    try {
      use = useOf(signal, new Map());
    } catch {
      return []; // needs metadata (e.g. a query): nothing to show by default
    }
    // Windowed signals are shown only for the windows triggers ask for (in their explanations).
    return (signal.params?.historyMs?.(use.params) ?? 0) > 0 ? [] : [use];
  });
  return defaults;
}
