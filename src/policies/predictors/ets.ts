import { augursWasm } from './augurs-wasm.js';
import type { Predictor } from './predictor.js';

/**
 * AutoETS from @bsull/augurs (grafana/augurs, crates/augurs-ets: a port of R forecast's `ets`):
 * the exponential smoothing model (error, trend; no season) with the best AICc, searched with
 * spec "ZZN".
 */
type EtsModule = typeof import('@bsull/augurs/ets');

let loaded: Promise<EtsModule> | undefined;

function load(): Promise<EtsModule> {
  loaded ??= (async () => {
    const ets = await import('@bsull/augurs/ets');
    ets.initSync({ module: await augursWasm('ets') });
    return ets;
  })();
  return loaded;
}

export const etsPredictor: Predictor = {
  name: 'ets',
  forecast: async (series, steps) => {
    const { AutoETS } = await load();
    const model = new AutoETS(1, 'ZZN');
    try {
      model.fit(Float64Array.from(series));
      const value = model.predict(steps).point[steps - 1];
      return { value: value ?? Number.NaN, method: 'ets' };
    } finally {
      model.free();
    }
  },
};
