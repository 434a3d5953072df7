import type { CounterName, HistogramName } from '../../../store/sample.js';
import { makeProfile, type EngineProfile } from './profile.js';
import { SGLANG } from './sglang.js';
import { TRTLLM } from './trtllm.js';
import { VLLM } from './vllm.js';

/** Engines whose own metrics a Dynamo worker passes through on its system port, in this order. */
const PASS_THROUGH: readonly EngineProfile[] = [VLLM, SGLANG, TRTLLM];

/**
 * The Dynamo frontend's metric prefix. `DYN_METRICS_PREFIX` can change it; `nv_llm_http_service`
 * is both the name before 2025-07-31 (#2176) and the NIM override.
 */
const FRONTEND_PREFIXES = ['dynamo_frontend', 'nv_llm_http_service'] as const;
const frontend = (...suffixes: string[]): string[] => suffixes.flatMap((suffix) => FRONTEND_PREFIXES.map((p) => `${p}_${suffix}`));
const passThrough = (pick: (p: EngineProfile) => readonly string[] | undefined): string[] => PASS_THROUGH.flatMap((p) => pick(p) ?? []);
const counter = (name: CounterName) => passThrough((p) => p.counters[name]);
const histogram = (name: HistogramName) => passThrough((p) => p.histograms[name]);

/**
 * NVIDIA Dynamo over HTTP (ai-dynamo/dynamo `lib/llm/src/http/service/metrics.rs` for the frontend,
 * `lib/runtime/src/metrics/prometheus_names.rs` for both). One profile reads both kinds of body, since a pool may point at either and they share no load gauge:
 * - the **frontend** (`:8000/metrics`, `dynamo_frontend_*`, label `model`): queue, in-flight
 *   requests, TTFT / ITL / request duration, input/output sequence tokens, output tokens;
 * - a **worker's system port** (`:$DYN_SYSTEM_PORT/metrics`): the KV gauges, 2025
 *   `dynamo_component_kvstats_*` and their 2026 replacements `dynamo_component_total_blocks` /
 *   `dynamo_component_gpu_cache_usage_percent` (per `dp_rank`), plus the engine's own
 *   `vllm:*` / `sglang:*` / `trtllm_*` series passed through (read with those engines' candidates).
 *
 * Frontend candidates come first, then the engine's, then Dynamo's generic component gauges.
 */
export const DYNAMO_HTTP = makeProfile({
  kind: 'dynamo-http',
  // queued_requests: requests not yet given a first token.
  waiting: [...frontend('queued_requests'), ...passThrough((p) => p.waiting)],
  // dynamo_component_inflight_requests counts the work handler's requests on every endpoint: the
  // engine's own running count is exact, so it is only the last resort.
  running: [...frontend('inflight_requests'), ...passThrough((p) => p.running), 'dynamo_component_inflight_requests'],
  // All 0..1 despite the names.
  kvUsage: ['dynamo_component_gpu_cache_usage_percent', 'dynamo_component_kvstats_gpu_cache_usage_percent', ...passThrough((p) => p.kvUsage)],
  usedBlocks: ['dynamo_component_kvstats_active_blocks', 'dynamo_component_active_blocks'],
  blocks: [
    { from: 'gauge', series: 'dynamo_component_total_blocks' },
    { from: 'gauge', series: 'dynamo_component_kvstats_total_blocks' },
    ...PASS_THROUGH.flatMap((p) => p.blocks),
  ],
  counters: {
    // The frontend has no prompt-token counter; its input-length histogram's `_sum` is one.
    promptTokens: [...frontend('input_sequence_tokens_sum'), ...counter('promptTokens')],
    generationTokens: [...frontend('output_tokens_total', 'output_sequence_tokens_sum'), ...counter('generationTokens')],
    // requests_total counts errors too (status="error"); request_duration is observed once per
    // finished request, for expositions that carry no status label.
    requestSuccess: [...frontend('requests_total{status="success"}', 'request_duration_seconds_count'), ...counter('requestSuccess')],
    preemptions: counter('preemptions'),
  },
  histograms: {
    ttft: [...frontend('time_to_first_token_seconds'), ...histogram('ttft')],
    itl: [...frontend('inter_token_latency_seconds'), ...histogram('itl')],
    e2eLatency: [...frontend('request_duration_seconds'), ...histogram('e2eLatency')],
    queueTime: histogram('queueTime'),
    requestPromptTokens: [...frontend('input_sequence_tokens'), ...histogram('requestPromptTokens')],
    requestGenerationTokens: [...frontend('output_sequence_tokens'), ...histogram('requestGenerationTokens')],
  },
  // vLLM names data-parallel engines `engine`; Dynamo's 2026 KV gauges name them `dp_rank`.
  engineLabels: ['engine', 'dp_rank'],
  // Dynamo labels `model` (frontend, and component metrics since #2389); engines `model_name`.
  modelLabels: ['model_name', 'model'],
});
