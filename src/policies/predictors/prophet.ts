import { augursWasm } from './augurs-wasm.js';
import type { Predictor } from './predictor.js';

/**
 * Prophet with Prophet's own Stan model, compiled to WebAssembly (@bsull/augurs' Prophet with
 * the optimizer of @bsull/augurs-prophet-wasmstan; grafana/augurs, components/cpp/prophet-wasmstan).
 * As Dynamo's planner does (components/planner/src/dynamo/planner/utils/load_predictor.py), point
 * k is stamped 2024-01-01 + k seconds, and the forecast is `yhat` at the last stamp + steps.
 *
 * When Stan's optimiser fails (e.g. on a constant series, which registry.ts answers without a
 * fit for that reason) the WebAssembly component writes its own lines ("Exception thrown",
 * "optimization failed: 70") to stderr through the WASI shim (@bytecodealliance/preview2-shim),
 * never to stdout, the JSON log; the fit throws and the forecast falls back to the last value,
 * logged as JSON.
 */
type ProphetModule = typeof import('@bsull/augurs/prophet');
type Optimizer = ConstructorParameters<ProphetModule['Prophet']>[0]['optimizer'];

const EPOCH_2024 = 1_704_067_200;

let loaded: Promise<{ prophet: ProphetModule; optimizer: Optimizer }> | undefined;

function load(): Promise<{ prophet: ProphetModule; optimizer: Optimizer }> {
  loaded ??= (async () => {
    const prophet = await import('@bsull/augurs/prophet');
    prophet.initSync({ module: await augursWasm('prophet') });
    const { optimizer } = await import('@bsull/augurs-prophet-wasmstan');
    return { prophet, optimizer: optimizer as Optimizer };
  })();
  return loaded;
}

export const prophetPredictor: Predictor = {
  name: 'prophet',
  forecast: async (series, steps) => {
    const { prophet, optimizer } = await load();
    const model = new prophet.Prophet({ optimizer });
    try {
      const ds = series.map((_, k) => EPOCH_2024 + k);
      model.fit({ ds, y: [...series] });
      const value = model.predict({ ds: [EPOCH_2024 + series.length - 1 + steps] }).yhat.point[0];
      return { value: value ?? Number.NaN, method: 'prophet' };
    } finally {
      model.free();
    }
  },
};
