/** Which EndpointSlice endpoints are workers, draining, or neither: a decision function, by property. */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { workersOfSlices } from '../src/discovery/endpoint-slices.js';

const condition = fc.option(fc.boolean(), { nil: undefined });
const endpoint = fc.record({
  pod: fc.constantFrom('p0', 'p1', 'p2', 'p3'),
  host: fc.nat({ max: 3 }),
  ready: condition,
  serving: condition,
  terminating: condition,
});
const slice = fc.record({
  addressType: fc.constantFrom('IPv4', 'IPv6', 'FQDN'),
  portName: fc.constantFrom('http', 'metrics'),
  endpoints: fc.array(endpoint, { maxLength: 5 }),
});

function address(addressType: string, pod: string, host: number): string {
  const n = Number(pod.slice(1)) * 4 + host;
  return addressType === 'IPv6' ? `fd00::${n + 1}` : addressType === 'IPv4' ? `10.0.0.${n + 1}` : `pod-${n}.example`;
}

interface SliceSpec {
  readonly addressType: string;
  readonly portName: string;
  readonly endpoints: readonly { pod: string; host: number; ready?: boolean; serving?: boolean; terminating?: boolean }[];
}

function toSlices(specs: readonly SliceSpec[]): V1EndpointSlice[] {
  return specs.map((s, i) => ({
    metadata: { name: `s${i}`, namespace: 'llm' },
    addressType: s.addressType,
    ports: [{ name: s.portName, port: 8000 }],
    endpoints: s.endpoints.map((e) => ({
      addresses: [address(s.addressType, e.pod, e.host)],
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      targetRef: { kind: 'Pod', name: e.pod, namespace: 'llm' },
    })),
  }));
}

/** The EndpointConditions contract, written out per endpoint: nil ready/serving read as ready, nil terminating as not. */
function stateOf(e: { ready?: boolean; serving?: boolean; terminating?: boolean }): 'worker' | 'draining' | 'none' {
  const ready = e.ready !== false;
  const serving = e.serving === undefined ? ready : e.serving;
  if (e.terminating === true) return serving ? 'draining' : 'none';
  return ready ? 'worker' : 'none';
}

describe('workersOfSlices', () => {
  it('one entry per pod that has a ready or draining endpoint on the named port, reached over IPv4 when it can be', () => {
    fc.assert(
      fc.property(fc.array(slice, { maxLength: 5 }), (specs) => {
        const got = workersOfSlices(toSlices(specs), { port: 'http', path: '/metrics', scheme: 'http' });
        const byPod = new Map<string, { family: number; state: 'worker' | 'draining'; address: string }[]>();
        for (const s of specs) {
          if (s.addressType === 'FQDN' || s.portName !== 'http') continue;
          for (const e of s.endpoints) {
            const state = stateOf(e);
            if (state === 'none') continue;
            const list = byPod.get(e.pod) ?? [];
            list.push({ family: s.addressType === 'IPv4' ? 0 : 1, state, address: address(s.addressType, e.pod, e.host) });
            byPod.set(e.pod, list);
          }
        }
        expect(got.map((w) => w.name).sort()).toEqual([...byPod.keys()].sort());
        for (const w of got) {
          const candidates = byPod.get(w.name ?? '') ?? [];
          const best = Math.min(...candidates.map((c) => c.family));
          const chosen = candidates.find((c) => w.id === (c.family === 0 ? `${c.address}:8000` : `[${c.address}]:8000`));
          expect(chosen?.family).toBe(best);
          // A ready endpoint of the pod in the chosen family wins over a draining one.
          const readyThere = candidates.some((c) => c.family === best && c.state === 'worker');
          expect(w.draining !== undefined).toBe(!readyThere);
          expect(w.url).toBe(`http://${w.id}/metrics`);
        }
        expect([...got].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(got);
      }),
    );
  });

  it('a numeric port is used as given; a port name no slice has gives no worker', () => {
    const slices = toSlices([{ addressType: 'IPv4', portName: 'http', endpoints: [{ pod: 'p0', host: 0, ready: true, serving: true, terminating: false }] }]);
    expect(workersOfSlices(slices, { port: 9400, path: '/m', scheme: 'https' })).toEqual([{ id: '10.0.0.1:9400', url: 'https://10.0.0.1:9400/m', name: 'p0' }]);
    expect(workersOfSlices(slices, { port: 'grpc', path: '/metrics', scheme: 'http' })).toEqual([]);
  });
});
