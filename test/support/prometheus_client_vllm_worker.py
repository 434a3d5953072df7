"""A vLLM-shaped worker whose /metrics is written by Python's prometheus_client, as vLLM's is.

The metric objects are declared the way vLLM V1 declares them (vllm-project/vllm
`vllm/v1/metrics/loggers.py`, PrometheusStatLogger): gauges and counters labelled `model_name` and
`engine`, one child per data-parallel engine, counters declared without `_total` (prometheus_client
adds it and a `_created` series), `vllm:cache_config_info` a gauge set to 1 whose labels carry the
cache configuration. The ASGI app of prometheus_client is served by uvicorn over keep-alive HTTP/1.1,
as vLLM's FastAPI server mounts it.

Traffic runs on a thread: every TICK seconds each engine finishes REQUESTS_PER_TICK requests with
TTFT_S time to first token, ITL_S between tokens and TOKENS_PER_REQUEST generated tokens. Lines on
stdin change the gauges: `waiting <engine> <n>`, `running <engine> <n>`, `kv <engine> <fraction>`.

    python3 prometheus_client_vllm_worker.py <port> <model> [engines]
"""

import sys
import threading
import time

import prometheus_client
import uvicorn

TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0]
TICK = 0.1
REQUESTS_PER_TICK = 2
TTFT_S = 0.05
ITL_S = 0.02
TOKENS_PER_REQUEST = 50
PROMPT_TOKENS_PER_REQUEST = 300
NUM_GPU_BLOCKS = 4000


def main() -> None:
    port = int(sys.argv[1])
    model = sys.argv[2]
    engines = [str(e) for e in range(int(sys.argv[3]) if len(sys.argv) > 3 else 2)]
    registry = prometheus_client.CollectorRegistry()
    labelnames = ["model_name", "engine"]

    def gauge(name: str) -> prometheus_client.Gauge:
        return prometheus_client.Gauge(name, f"{name} (test worker)", labelnames, registry=registry)

    def counter(name: str, extra: list[str] | None = None) -> prometheus_client.Counter:
        return prometheus_client.Counter(name, f"{name} (test worker)", labelnames + (extra or []), registry=registry)

    def histogram(name: str, buckets: list[float]) -> prometheus_client.Histogram:
        return prometheus_client.Histogram(name, f"{name} (test worker)", labelnames, buckets=buckets, registry=registry)

    waiting = gauge("vllm:num_requests_waiting")
    running = gauge("vllm:num_requests_running")
    kv_usage = gauge("vllm:kv_cache_usage_perc")
    prompt_tokens = counter("vllm:prompt_tokens")
    generation_tokens = counter("vllm:generation_tokens")
    success = counter("vllm:request_success", ["finished_reason"])
    ttft = histogram("vllm:time_to_first_token_seconds", TTFT_BUCKETS)
    itl = histogram("vllm:inter_token_latency_seconds", ITL_BUCKETS)
    cache_info = prometheus_client.Gauge(
        "vllm:cache_config_info",
        "Information of the LLMEngine CacheConfig",
        ["block_size", "cache_dtype", "gpu_memory_utilization", "num_gpu_blocks", "num_cpu_blocks"],
        registry=registry,
    )
    cache_info.labels(block_size="16", cache_dtype="auto", gpu_memory_utilization="0.9", num_gpu_blocks=str(NUM_GPU_BLOCKS), num_cpu_blocks="0").set(1)
    for engine in engines:
        waiting.labels(model, engine).set(0)
        running.labels(model, engine).set(1)
        kv_usage.labels(model, engine).set(0.25)
        # Children exist from the start, as vLLM creates them when the logger starts.
        success.labels(model, engine, "stop")

    lock = threading.Lock()

    def traffic() -> None:
        while True:
            time.sleep(TICK)
            with lock:
                for engine in engines:
                    for _ in range(REQUESTS_PER_TICK):
                        ttft.labels(model, engine).observe(TTFT_S)
                        for _ in range(5):
                            itl.labels(model, engine).observe(ITL_S)
                        prompt_tokens.labels(model, engine).inc(PROMPT_TOKENS_PER_REQUEST)
                        generation_tokens.labels(model, engine).inc(TOKENS_PER_REQUEST)
                        success.labels(model, engine, "stop").inc()

    def commands() -> None:
        for line in sys.stdin:
            parts = line.split()
            if len(parts) != 3:
                continue
            what, engine, value = parts
            target = {"waiting": waiting, "running": running, "kv": kv_usage}.get(what)
            if target is not None:
                target.labels(model, engine).set(float(value))
            print(f"ok {what} {engine} {value}", flush=True)

    threading.Thread(target=traffic, daemon=True).start()
    threading.Thread(target=commands, daemon=True).start()
    app = prometheus_client.make_asgi_app(registry=registry)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=60)
    server = uvicorn.Server(config)
    print("listening", flush=True)
    server.run()


if __name__ == "__main__":
    main()
